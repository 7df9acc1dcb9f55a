"""Acquiring an Asterisk call's MixMonitor file: an uploaded copy, or the file in the monitor directory.

kolokol on another host gets the file from Asterisk's post-command (POST /api/recordings/upload): such a
copy is complete when it is there and is taken at once. kolokol on the Asterisk host (or with the monitor
directory mounted) reads the file under ``asterisk_local_dir`` once it is complete: unchanged (same size
and modification time) for ``asterisk_stable_seconds`` after the call ended. What was seen of it is
returned as ``observed`` and kept on the row between the worker's rounds, so the worker never sleeps on a
file. A file that never appears or never stops growing is retried (RetryLater) until the worker's
deadline (``asterisk_file_timeout_seconds`` after the call's end) fails it with the last reason.

The monitor directory is Asterisk's: its files are copied, never moved or changed; nothing outside it is
read (names with ``..``, absolute paths elsewhere, symlinks leading out fail the recording).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from kolokol.settings import Settings
from recordings.asterisk_names import BadName, relative_name
from recordings.outcomes import Done, Failed, Outcome, RetryLater
from recordings.uploads import UploadArea

# While the file has not appeared: look often at first (the post-command's upload or a slow disk), then
# less often.
SOON_SECONDS = 2.0
LATER_SECONDS = 15.0
SOON_FOR_SECONDS = 60.0
EMPTY = "the recording is empty"
NOT_YET = "the recording's file did not appear"
GROWING = "the recording's file kept growing"


async def acquire(
    ref: Mapping[str, Any],
    dest: Path,
    *,
    settings: Settings,
    observed: Mapping[str, Any] | None,
    ended_at: datetime,
    now: datetime,
    uploads: UploadArea | None,
) -> tuple[Outcome, dict[str, Any] | None]:
    """The outcome of one look at the recording, and what to keep of the file for the next look."""
    config = settings.recordings
    name = ref.get("file")
    if not isinstance(name, str):
        return Failed("the call names no recording file"), None
    try:
        key = relative_name(name, config.asterisk_monitor_dir)
    except BadName as bad:
        return Failed(str(bad)), None
    if uploads is not None and await asyncio.to_thread(uploads.take, key, dest):
        return await asyncio.to_thread(_checked, dest), None
    local_root = Path(config.asterisk_local_dir)
    look = await asyncio.to_thread(_look, local_root, key)
    if isinstance(look, Failed):
        return look, None
    if look is None:
        waited = (now - ended_at).total_seconds()
        after = SOON_SECONDS if waited < SOON_FOR_SECONDS else LATER_SECONDS
        return RetryLater(f"{NOT_YET} ({key})", after), None
    path, size, mtime = look
    stable = config.asterisk_stable_seconds
    since = now
    if observed and observed.get("size") == size and observed.get("mtime") == mtime:
        since = _parse(observed.get("since")) or now
    seen = {"size": size, "mtime": mtime, "since": since.isoformat()}
    # Unchanged for long enough after the call ended: watched over rounds, or (the worker came late)
    # by the file's own time, on this very machine's clock.
    quiet_since = max(since, ended_at)
    untouched_for = now.timestamp() - mtime
    if (now - quiet_since).total_seconds() < stable and not (
        untouched_for >= stable and (now - ended_at).total_seconds() >= stable
    ):
        left = stable - (now - quiet_since).total_seconds()
        return RetryLater(f"{GROWING} ({key})", max(0.2, left)), seen
    outcome = await asyncio.to_thread(_copy, path, size, mtime, dest)
    return outcome, (seen if isinstance(outcome, RetryLater) else None)


def _parse(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _look(root: Path, key: str) -> tuple[Path, int, float] | Failed | None:
    """The file's resolved path, size and mtime; None while it is not there."""
    candidate = root.joinpath(*key.split("/"))
    try:
        resolved_root = root.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        # No monitor directory here (kolokol on another host): only an upload can bring the file.
        return None
    try:
        resolved = candidate.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (RuntimeError, OSError):
        return Failed("the recording's file is a symbolic link that leads nowhere")
    if not resolved.is_relative_to(resolved_root):
        return Failed("the recording's file leads outside the Asterisk recordings directory")
    try:
        info = resolved.stat()
    except FileNotFoundError:
        return None
    if not resolved.is_file():
        return Failed("the recording's name is not a file")
    return resolved, info.st_size, info.st_mtime


def _copy(path: Path, size: int, mtime: float, dest: Path) -> Outcome:
    """Copies the file as it was watched; a file changed meanwhile is watched again."""
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return RetryLater(NOT_YET)
    except PermissionError:
        return Failed("kolokol may not read the recording's file (check the monitor directory's permissions)")
    with handle:
        info = os.fstat(handle.fileno())
        if info.st_size != size or info.st_mtime != mtime:
            return RetryLater(GROWING)
        partial = dest.with_name(dest.name + ".part")
        with partial.open("wb") as out:
            shutil.copyfileobj(handle, out, 1024 * 1024)
        os.replace(partial, dest)
    return _checked(dest)


def _checked(path: Path) -> Outcome:
    if is_empty_audio(path):
        path.unlink(missing_ok=True)
        return Failed(EMPTY)
    return Done(path)


def is_empty_audio(path: Path) -> bool:
    """A 0-byte file, or a WAV whose data chunk holds no sample (Asterisk's header for a silent call)."""
    size = path.stat().st_size
    if size == 0:
        return True
    with path.open("rb") as handle:
        head = handle.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return False
        offset = 12
        while True:
            chunk = handle.read(8)
            if len(chunk) < 8:
                # No data chunk at all: a header cut short.
                return True
            length = int.from_bytes(chunk[4:8], "little")
            offset += 8
            if chunk[:4] == b"data":
                return size <= offset
            offset += length + (length & 1)
            if offset >= size:
                return True
            handle.seek(offset)
