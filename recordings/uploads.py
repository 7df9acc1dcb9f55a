"""Recordings uploaded by Asterisk's post-command (kolokol on another host), waiting for the worker.

An upload is kept under the storage's ``uploads/`` directory, named by a hash of its normalized name
(recordings.asterisk_names.relative_name), so that any name, however odd, maps to one plain file and two
names never share one. It becomes visible only complete (written beside, then renamed), so the worker
never takes half an upload. Once the worker has taken it, a ``.taken`` mark stays: uploading the same
name again is then refused (409) rather than silently ignored, while uploading it again before that
replaces the waiting copy (the post-command retrying after a lost answer).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path, PurePosixPath

UPLOADS = "uploads"
_SUFFIX = re.compile(r"\.[A-Za-z0-9]{1,8}")


class UploadTooLarge(Exception):
    """The body went past ``upload_max_bytes`` (nothing of it is kept)."""


class AlreadyTaken(Exception):
    """The recording of this name was already taken for processing."""


class UploadArea:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _stem(self, key: str) -> Path:
        return self.root / hashlib.sha256(key.encode()).hexdigest()[:40]

    def path_of(self, key: str) -> Path:
        suffix = PurePosixPath(key).suffix
        return self._stem(key).with_suffix(suffix if _SUFFIX.fullmatch(suffix) else ".bin")

    def _mark(self, key: str) -> Path:
        return self._stem(key).with_suffix(".taken")

    def taken(self, key: str) -> bool:
        return self._mark(key).exists()

    def waiting(self, key: str) -> bool:
        return self.path_of(key).is_file()

    async def receive(self, key: str, chunks: AsyncIterator[bytes], max_bytes: int) -> int:
        """Writes the body under ``key``; returns its size. Blocking writes are small chunks of a socket
        read: cheaper in the loop than a thread hop per chunk."""
        if self.taken(key):
            raise AlreadyTaken(key)
        self.root.mkdir(parents=True, exist_ok=True)
        target = self.path_of(key)
        partial = target.with_name(f"{target.name}.{secrets.token_hex(6)}.part")
        size = 0
        try:
            with partial.open("xb") as out:
                async for chunk in chunks:
                    size += len(chunk)
                    if size > max_bytes:
                        raise UploadTooLarge(key)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            if self.taken(key):
                raise AlreadyTaken(key)
            os.replace(partial, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
        return size

    def take(self, key: str, dest: Path) -> bool:
        """Moves the waiting upload to ``dest`` (same file system: the storage); False when none waits."""
        source = self.path_of(key)
        if not source.is_file():
            return False
        try:
            os.replace(source, dest)
        except FileNotFoundError:
            return False
        self._mark(key).touch()
        return True
