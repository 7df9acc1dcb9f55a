"""The local storage never reads or writes outside its directory, whatever key it is given."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recordings.storage import LocalDiskStorage, UnsafeKey, audio_key

DAY = datetime(2026, 12, 3, 23, 30, tzinfo=UTC)


def test_audio_is_kept_by_the_calls_date() -> None:
    assert audio_key("abc123", DAY, ".ogg") == "2026/12/03/abc123.ogg"


@pytest.mark.parametrize(
    "key",
    [
        "../outside.ogg",
        "2026/../../outside",
        "/etc/passwd",
        "2026//x.ogg",
        "a\\..\\b",
        "",
        ".",
        "x/..",
        "a\0b",
    ],
)
def test_keys_leading_anywhere_else_are_refused(tmp_path: Path, key: str) -> None:
    storage = LocalDiskStorage(tmp_path / "recordings")
    with pytest.raises(UnsafeKey):
        storage.path_of(key)


def test_a_symlink_out_of_the_directory_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "recordings"
    (root / "2026").mkdir(parents=True)
    outside = tmp_path / "secrets"
    outside.mkdir()
    (root / "2026" / "12").symlink_to(outside)
    storage = LocalDiskStorage(root)
    with pytest.raises(UnsafeKey):
        storage.path_of("2026/12/x.ogg")


def test_ids_and_suffixes_must_be_plain_names(tmp_path: Path) -> None:
    storage = LocalDiskStorage(tmp_path)
    for bad_id in ("../x", "a/b", ""):
        with pytest.raises(UnsafeKey):
            storage.incoming(bad_id, ".orig")
    with pytest.raises(UnsafeKey):
        storage.incoming("abc", "/../x")
    with pytest.raises(UnsafeKey):
        audio_key("../abc", DAY, ".ogg")


async def test_put_moves_a_file_in_and_delete_removes_it(tmp_path: Path) -> None:
    storage = LocalDiskStorage(tmp_path / "store")
    src = storage.incoming("abc", ".ogg")
    src.write_bytes(b"OggS" + b"\0" * 100)
    size = await storage.put("2026/12/03/abc.ogg", src)
    assert size == 104 and not src.exists()
    assert await storage.size("2026/12/03/abc.ogg") == 104
    chunks = [c async for c in storage.open_range("2026/12/03/abc.ogg", 2, 5)]
    assert b"".join(chunks) == b"gS\0\0"
    await storage.delete("2026/12/03/abc.ogg")
    assert await storage.size("2026/12/03/abc.ogg") is None
    await storage.delete("2026/12/03/abc.ogg")


def test_nothing_is_created_until_something_is_stored(tmp_path: Path) -> None:
    LocalDiskStorage(tmp_path / "never")
    assert not os.path.exists(tmp_path / "never")
