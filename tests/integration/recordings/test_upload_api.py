"""Asterisk's post-command uploading a finished recording to kolokol on another host, over real HTTP, with
the worker running: the upload is taken at once, processed, and becomes playable; the same name again
is refused once taken; bad names, oversized bodies and the wrong roles change nothing."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from kolokol.app_keys import SESSIONS
from kolokol.storage.tables import Recording
from recordings.upload_api import UPLOAD_AREA
from tests.support.call_audio import Tone, write_wav
from tests.support.clock import Clock
from tests.support.listening import Listening, start_listening
from tests.support.logins import ClientMaker
from tests.support.stored_recordings import Stored, store_recording

MONITOR = "/var/spool/asterisk/monitor"
WAIT = 60  # seconds: only a bound for a broken run


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "call.wav", [Tone(3.0)])


@pytest.fixture
async def kolokol(db_url: str, aiohttp_client: ClientMaker, tmp_path: Path, wav: Path) -> Listening:
    return await start_listening(
        db_url,
        aiohttp_client,
        Clock(),
        wav,
        tmp_path / "rec",
        recordings={
            "enabled": True,
            "asterisk_local_dir": str(tmp_path / "not-on-this-host"),
            "upload_max_bytes": 100_000,
        },
    )


async def waiting_recording(kolokol: Listening) -> Stored:
    """A call's recording waiting for its file, not due for another hour."""
    now = datetime.now(UTC)
    return await store_recording(
        kolokol.app[SESSIONS],
        kolokol.storage,
        None,
        status="pending",
        started=now,
        now=now + timedelta(hours=1),
    )


async def row_of(kolokol: Listening, recording_id: str) -> Recording:
    async with kolokol.app[SESSIONS]() as session:
        row = await session.scalar(select(Recording).where(Recording.id == recording_id))
    assert row is not None
    return row


async def settled(kolokol: Listening, recording_id: str) -> Recording:
    async with asyncio.timeout(WAIT):
        while (row := await row_of(kolokol, recording_id)).status == "pending":  # noqa: ASYNC110 - a row in the database: no event to wait on
            await asyncio.sleep(0.05)
    return row


def upload_url(name: str) -> str:
    return f"/api/recordings/upload?name={name}"


async def test_an_uploaded_recording_is_taken_at_once_and_becomes_playable(kolokol: Listening) -> None:
    stored = await waiting_recording(kolokol)
    name = f"{MONITOR}/{stored.call_id}.wav"  # as MIXMONITOR_FILENAME says; the call has the relative name
    sent = await kolokol.request("POST", upload_url(name), "integration", data=kolokol.audio)
    assert sent.status == 201
    assert json.loads(sent.body) == {"name": f"{stored.call_id}.wav", "bytes": len(kolokol.audio)}

    row = await settled(kolokol, stored.recording_id)
    assert row.status == "ready", row.failure
    assert row.duration_seconds == pytest.approx(3.0, abs=0.1)
    audio = await kolokol.get(f"/api/recordings/{stored.recording_id}/audio", "manager")
    assert audio.status == 200 and audio.body[:4] == b"OggS"

    again = await kolokol.request("POST", upload_url(name), "admin", data=kolokol.audio)
    assert again.status == 409 and json.loads(again.body)["error"] == "already-taken"


async def test_an_upload_sent_again_before_it_was_taken_replaces_the_first(kolokol: Listening) -> None:
    area = kolokol.app[UPLOAD_AREA]
    first = await kolokol.request("POST", upload_url("2026/12/03/nobody.wav"), "admin", data=b"RIFF-first")
    second = await kolokol.request("POST", upload_url("2026/12/03/nobody.wav"), "admin", data=b"RIFF-second")
    assert (first.status, second.status) == (201, 201)
    assert area.path_of("2026/12/03/nobody.wav").read_bytes() == b"RIFF-second"
    assert [p.name for p in area.root.iterdir()] == [area.path_of("2026/12/03/nobody.wav").name]


async def test_an_empty_upload_fails_the_recording_with_the_reason(kolokol: Listening) -> None:
    stored = await waiting_recording(kolokol)
    sent = await kolokol.request("POST", upload_url(f"{stored.call_id}.wav"), "integration", data=b"")
    assert sent.status == 201
    row = await settled(kolokol, stored.recording_id)
    assert (row.status, row.failure) == ("failed", "The recording is empty")


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("../../etc/cron.d/x", "'..'"),
        ("/etc/passwd", "not inside Asterisk's monitor directory"),
        ("", "no file name"),
        ("x%0A.wav", "control characters"),
    ],
)
async def test_bad_names_are_refused_and_nothing_is_written(kolokol: Listening, name: str, said: str) -> None:
    sent = await kolokol.request("POST", upload_url(name), "admin", data=kolokol.audio)
    assert sent.status == 400
    answer = json.loads(sent.body)
    assert answer["error"] == "invalid-name" and said in answer["message"]
    assert not kolokol.app[UPLOAD_AREA].root.exists()


async def test_an_oversized_upload_is_413_and_leaves_nothing(kolokol: Listening) -> None:
    stored = await waiting_recording(kolokol)

    async def streamed() -> object:
        # No Content-Length: the limit is found while reading.
        for _ in range(30):
            yield b"\0" * 10_000

    sent = await kolokol.request("POST", upload_url(f"{stored.call_id}.wav"), "integration", data=streamed())
    assert sent.status == 413
    declared = await kolokol.request(
        "POST", upload_url(f"{stored.call_id}.wav"), "integration", data=b"\0" * 100_001
    )
    assert declared.status == 413
    root = kolokol.app[UPLOAD_AREA].root
    assert not root.exists() or list(root.iterdir()) == []
    assert (await row_of(kolokol, stored.recording_id)).status == "pending"


@pytest.mark.parametrize(
    ("role", "status"), [(None, 401), ("manager", 403), ("operator", 403), ("marketer", 403)]
)
async def test_only_admins_and_integrations_upload(kolokol: Listening, role: str | None, status: int) -> None:
    sent = await kolokol.request("POST", upload_url("2026/12/03/x.wav"), role, data=kolokol.audio)
    assert sent.status == status
    assert not kolokol.app[UPLOAD_AREA].root.exists()
