"""The Asterisk intake on real files: a MixMonitor file is taken once it stopped changing after the call
ended, an upload at once; names and links leading out of the monitor directory, and empty recordings,
fail with a reason; the monitor directory's files are copied, never moved."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kolokol.settings import Settings
from recordings.asterisk_intake import EMPTY, GROWING, NOT_YET, acquire
from recordings.outcomes import Done, Failed, RetryLater
from recordings.uploads import UploadArea
from tests.support.call_audio import Tone, write_wav

MONITOR = "/var/spool/asterisk/monitor"
NAME = f"{MONITOR}/2026/12/03/1764751234.12.wav"
NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def local(tmp_path: Path) -> Path:
    directory = tmp_path / "monitor"
    (directory / "2026/12/03").mkdir(parents=True)
    return directory


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    (tmp_path / "incoming").mkdir()
    return tmp_path / "incoming" / "rec1.orig"


def settings(local: Path, stable: float = 3) -> Settings:
    return Settings.model_validate(
        {
            "recordings": {
                "asterisk_monitor_dir": MONITOR,
                "asterisk_local_dir": str(local),
                "asterisk_stable_seconds": stable,
            }
        }
    )


def recorded(local: Path, *, modified: datetime = NOW, seconds: float = 1.0) -> Path:
    path = write_wav(local / "2026/12/03/1764751234.12.wav", [Tone(seconds)])
    os.utime(path, (modified.timestamp(), modified.timestamp()))
    return path


def present(path: Path) -> bool:
    return path.exists()


def contents(path: Path) -> bytes:
    return path.read_bytes()


async def look(
    local: Path,
    dest: Path,
    *,
    now: datetime,
    observed: dict[str, Any] | None = None,
    ended_at: datetime = NOW,
    uploads: UploadArea | None = None,
    name: str = NAME,
) -> tuple[Any, dict[str, Any] | None]:
    return await acquire(
        {"file": name},
        dest,
        settings=settings(local),
        observed=observed,
        ended_at=ended_at,
        now=now,
        uploads=uploads,
    )


async def test_a_file_unchanged_for_the_stable_time_after_the_call_is_copied(local: Path, dest: Path) -> None:
    source = recorded(local)
    first, seen = await look(local, dest, now=NOW)
    assert isinstance(first, RetryLater) and GROWING in first.reason
    assert first.after_seconds == pytest.approx(3)
    assert seen is not None and not present(dest)
    early, seen_again = await look(local, dest, now=NOW + timedelta(seconds=1), observed=seen)
    assert isinstance(early, RetryLater), "unchanged for 1 s only"
    assert seen_again == seen
    taken, after = await look(local, dest, now=NOW + timedelta(seconds=3), observed=seen)
    assert taken == Done(dest) and after is None
    assert contents(dest) == contents(source)
    assert present(source), "Asterisk's file stays where it is"


async def test_a_file_still_growing_is_watched_again_from_its_new_size(local: Path, dest: Path) -> None:
    source = recorded(local, seconds=1)
    _, seen = await look(local, dest, now=NOW)
    recorded(local, seconds=2, modified=NOW + timedelta(seconds=2))
    grown, seen_grown = await look(local, dest, now=NOW + timedelta(seconds=3), observed=seen)
    assert isinstance(grown, RetryLater) and GROWING in grown.reason
    assert seen and seen_grown and seen_grown["size"] > seen["size"]
    assert seen_grown["since"] == (NOW + timedelta(seconds=3)).isoformat()
    taken, _ = await look(local, dest, now=NOW + timedelta(seconds=6), observed=seen_grown)
    assert taken == Done(dest) and contents(dest) == contents(source)


async def test_a_file_long_finished_when_the_worker_first_looks_is_taken_at_once(
    local: Path, dest: Path
) -> None:
    recorded(local, modified=NOW - timedelta(minutes=5))
    taken, _ = await look(local, dest, now=NOW, ended_at=NOW - timedelta(minutes=5))
    assert taken == Done(dest)


async def test_a_file_not_there_yet_is_looked_for_again_soon(local: Path, dest: Path) -> None:
    outcome, seen = await look(local, dest, now=NOW)
    assert isinstance(outcome, RetryLater) and NOT_YET in outcome.reason and seen is None
    assert outcome.after_seconds is not None and outcome.after_seconds <= 5
    later, _ = await look(local, dest, now=NOW + timedelta(minutes=3))
    assert isinstance(later, RetryLater) and later.after_seconds is not None and later.after_seconds > 5


async def test_no_monitor_directory_on_this_host_waits_for_an_upload(tmp_path: Path, dest: Path) -> None:
    outcome, _ = await look(tmp_path / "absent", dest, now=NOW)
    assert isinstance(outcome, RetryLater) and NOT_YET in outcome.reason


async def test_an_upload_is_taken_first_and_at_once(tmp_path: Path, local: Path, dest: Path) -> None:
    area = UploadArea(tmp_path / "uploads")
    body = write_wav(tmp_path / "sent.wav", [Tone(1)]).read_bytes()

    async def chunks() -> Any:
        yield body

    await area.receive("2026/12/03/1764751234.12.wav", chunks(), 10**6)
    taken, _ = await look(local, dest, now=NOW, uploads=area)
    assert taken == Done(dest) and contents(dest) == body
    assert area.taken("2026/12/03/1764751234.12.wav")


async def test_a_symlink_leading_out_of_the_monitor_directory_fails(
    tmp_path: Path, local: Path, dest: Path
) -> None:
    secret = tmp_path / "secret.wav"
    write_wav(secret, [Tone(1)])
    (local / "2026/12/03/1764751234.12.wav").symlink_to(secret)
    outcome, _ = await look(local, dest, now=NOW, ended_at=NOW - timedelta(minutes=5))
    assert outcome == Failed("the recording's file leads outside the Asterisk recordings directory")
    assert not present(dest)


async def test_a_directory_link_leading_out_fails_too(tmp_path: Path, local: Path, dest: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    write_wav(outside / "x.wav", [Tone(1)])
    (local / "2026/12/04").symlink_to(outside)
    outcome, _ = await look(local, dest, now=NOW, name="2026/12/04/x.wav")
    assert isinstance(outcome, Failed) and "outside" in outcome.reason


@pytest.mark.parametrize("name", ["/etc/passwd", "../../../etc/passwd", f"{MONITOR}/../../../etc/passwd"])
async def test_names_leading_out_fail_without_reading_anything(local: Path, dest: Path, name: str) -> None:
    outcome, _ = await look(local, dest, now=NOW, name=name)
    assert isinstance(outcome, Failed)
    assert not present(dest)


@pytest.mark.parametrize("content", [b"", "header"])
async def test_an_empty_recording_fails(local: Path, dest: Path, content: bytes | str) -> None:
    path = local / "2026/12/03/1764751234.12.wav"
    if content == "header":
        write_wav(path, [])
        assert path.stat().st_size == 44
    else:
        path.write_bytes(b"")
    old = (NOW - timedelta(minutes=5)).timestamp()
    os.utime(path, (old, old))
    outcome, _ = await look(local, dest, now=NOW, ended_at=NOW - timedelta(minutes=5))
    assert outcome == Failed(EMPTY)
    assert not present(dest)


async def test_a_name_that_is_a_directory_fails(local: Path, dest: Path) -> None:
    outcome, _ = await look(local, dest, now=NOW, name="2026/12/03")
    assert outcome == Failed("the recording's name is not a file")
