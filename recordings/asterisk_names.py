"""The name of an Asterisk recording, made safe (pure: no file is touched).

Asterisk reports a MixMonitor file by ``MIXMONITOR_FILENAME``: an absolute path under its monitor
directory (``astspooldir/monitor``) when the dialplan gave MixMonitor a relative name, as ours does
(``KOLOKOL_RECORDING``, e.g. ``2026/12/03/1764751234.12.wav``). Either form names the same file, and both
are turned into one relative name inside the monitor directory: the key under which an uploaded copy is
kept and the path read under ``asterisk_local_dir`` when kolokol shares Asterisk's disk.

A name that would lead anywhere else is refused: ``..`` parts, an absolute path outside the monitor
directory, NUL and control characters, backslashes, over-long names.
"""

from __future__ import annotations

import posixpath
from pathlib import Path, PurePosixPath

MAX_NAME = 1024
MAX_PART = 255


class BadName(ValueError):
    """A recording name kolokol will not read (the reason is a sentence for the call's page)."""


def relative_name(name: str, monitor_dir: str) -> str:
    """The recording's name relative to the monitor directory ("YYYY/MM/DD/x.wav"), or BadName."""
    if not name or not name.strip():
        raise BadName("the recording has no file name")
    if len(name) > MAX_NAME:
        raise BadName(f"the recording's file name is longer than {MAX_NAME} characters")
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise BadName("the recording's file name contains control characters")
    if "\\" in name:
        raise BadName("the recording's file name contains a backslash")
    path = PurePosixPath(name)
    if path.is_absolute():
        base = PurePosixPath(posixpath.normpath(monitor_dir or "/"))
        if not base.is_absolute():
            raise BadName("asterisk_monitor_dir is not an absolute path")
        if ".." in path.parts:
            raise BadName("the recording's file name contains '..'")
        if not path.is_relative_to(base) or path == base:
            raise BadName(f"the recording's file is not inside Asterisk's monitor directory ({base})")
        path = path.relative_to(base)
    parts = [part for part in path.parts if part not in ("", ".")]
    if ".." in parts:
        raise BadName("the recording's file name contains '..'")
    if not parts:
        raise BadName("the recording has no file name")
    if any(len(part.encode()) > MAX_PART for part in parts):
        raise BadName(f"a part of the recording's file name is longer than {MAX_PART} bytes")
    return "/".join(parts)


def local_path(name: str, monitor_dir: str, local_dir: str | Path) -> Path:
    """Where the file Asterisk named is read on this machine (not yet checked for symlinks)."""
    return Path(local_dir).joinpath(*relative_name(name, monitor_dir).split("/"))
