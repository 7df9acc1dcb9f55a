"""Where recordings live: a small interface (local disk here; an S3-compatible store can implement it).

Keys are relative, "/"-separated names such as ``2026/12/03/<recording id>.ogg``; a backend never reads or
writes outside its own area whatever key it is given (``../``, absolute keys and symlinks leading out are
refused with ``UnsafeKey``).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

# Where acquired originals wait to be processed (named by the recording's id: a retry overwrites).
INCOMING = "incoming"
_KEY_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
_SUFFIX = re.compile(r"\.[a-z0-9]{1,8}")
_CHUNK = 64 * 1024


class UnsafeKey(ValueError):
    """A key that would lead outside the storage area."""


class RecordingStorage(Protocol):
    async def put(self, key: str, src: Path) -> int:
        """Move (or copy) ``src`` in under ``key``, replacing what was there; returns the size."""
        ...

    async def size(self, key: str) -> int | None:
        """The stored object's size; None when there is none."""
        ...

    def local_path(self, key: str) -> Path | None:
        """The file on this machine (served as a file); None for remote stores."""
        ...

    def open_range(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        """Bytes ``start``..``end`` inclusive, in chunks (for stores without a local file)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the object; nothing to remove is not an error."""
        ...

    def incoming(self, recording_id: str, suffix: str) -> Path:
        """A local temp path for an acquired original (its directory exists)."""
        ...


def audio_key(recording_id: str, call_started_at: datetime, suffix: str) -> str:
    """``YYYY/MM/DD/<id><suffix>`` by the call's date (UTC)."""
    day = call_started_at.astimezone(UTC)
    return f"{day:%Y/%m/%d}/{_checked_part(recording_id)}{_checked_suffix(suffix)}"


def original_key(recording_id: str, call_started_at: datetime, suffix: str) -> str:
    """Where a kept original goes: next to the audio, ``<id>.original<suffix>``."""
    day = call_started_at.astimezone(UTC)
    return f"{day:%Y/%m/%d}/{_checked_part(recording_id)}.original{_checked_suffix(suffix)}"


def _checked_part(part: str) -> str:
    if not _KEY_PART.fullmatch(part) or part in (".", ".."):
        raise UnsafeKey(f"{part!r} cannot be part of a storage key")
    return part


def _checked_suffix(suffix: str) -> str:
    if not _SUFFIX.fullmatch(suffix):
        raise UnsafeKey(f"{suffix!r} is not a file suffix (e.g. '.ogg')")
    return suffix


class LocalDiskStorage:
    """Files under one directory, by date; keys are checked to stay inside it."""

    def __init__(self, root: Path) -> None:
        # Made on the first write, not here: an app that never records creates no directories.
        self.root = root.resolve()

    def path_of(self, key: str) -> Path:
        """The file for ``key``, refusing anything that resolves outside the root."""
        parts = key.split("/")
        if not key or key.startswith("/") or "\\" in key or "\0" in key:
            raise UnsafeKey(f"{key!r} is not a storage key")
        for part in parts:
            _checked_part(part)
        candidate = self.root.joinpath(*parts)
        # Symlinks inside the tree must not lead out of it.
        resolved = candidate.resolve()
        if not resolved.is_relative_to(self.root):
            raise UnsafeKey(f"{key!r} leads outside the storage directory")
        return candidate

    async def put(self, key: str, src: Path) -> int:
        target = self.path_of(key)
        return await asyncio.to_thread(_move_in, src, target)

    async def size(self, key: str) -> int | None:
        path = self.path_of(key)
        try:
            return (await asyncio.to_thread(path.stat)).st_size
        except FileNotFoundError:
            return None

    def local_path(self, key: str) -> Path | None:
        return self.path_of(key)

    async def open_range(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        path = self.path_of(key)
        handle = await asyncio.to_thread(path.open, "rb")
        try:
            await asyncio.to_thread(handle.seek, start)
            left = end - start + 1
            while left > 0:
                chunk = await asyncio.to_thread(handle.read, min(_CHUNK, left))
                if not chunk:
                    return
                left -= len(chunk)
                yield chunk
        finally:
            handle.close()

    async def delete(self, key: str) -> None:
        path = self.path_of(key)
        await asyncio.to_thread(path.unlink, missing_ok=True)

    def incoming(self, recording_id: str, suffix: str) -> Path:
        directory = self.root / INCOMING
        directory.mkdir(parents=True, exist_ok=True)
        return directory / f"{_checked_part(recording_id)}{_checked_suffix(suffix)}"


def _move_in(src: Path, target: Path) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write beside the target and rename: a reader never sees half a file, a crash leaves no torn one.
    partial = target.with_name(target.name + ".part")
    try:
        os.replace(src, partial)
    except OSError:
        shutil.copyfile(src, partial)
        src.unlink(missing_ok=True)
    os.replace(partial, target)
    return target.stat().st_size
