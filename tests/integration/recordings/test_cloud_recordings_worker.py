"""A cloud PBX call through the whole app: Zadarma's signed notifications come in, the call is stored with
its recording reference, the real worker fetches the file from the fake Zadarma API, ffmpeg transcodes it,
and a manager plays it. When the provider misbehaves the recording ends failed with a reason and the call
record stays as it was."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from kolokol.settings import Settings
from kolokol.storage.engine import make_sessionmaker
from recordings.job_store import JobStore
from recordings.pool import ProcessPool
from recordings.storage import LocalDiskStorage
from recordings.worker import RecordingWorker, WorkerTiming
from tests.support import fake_providers as fp
from tests.support.clock import Clock
from tests.support.fake_providers import FakeProviders, fake_providers, make_audio
from tests.support.logins import add_user, log_in
from tests.support.providers import telnyx as telnyx_hooks
from tests.support.providers.zadarma import deliver, inbound_answered
from tests.support.recording_jobs import T0, answered, pipeline, rows
from tests.support.waiting import eventually
from tests.support.webhooks import ClientMaker, Hook, make_hook

# Only a bound for a broken run: fetching and transcoding a second of audio takes far less.
WITHIN = 60


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return make_audio(tmp_path_factory.mktemp("audio"))


@pytest.fixture
async def fake(audio: dict[str, bytes]) -> AsyncIterator[FakeProviders]:
    async with fake_providers(audio) as providers:
        yield providers


@pytest.fixture
async def zadarma(db_url: str, aiohttp_client: ClientMaker, fake: FakeProviders, tmp_path: Path) -> Hook:
    settings = {"api_key": fp.ZADARMA_KEY, "api_secret": fp.ZADARMA_SECRET, "api_base_url": fake.api_url}
    recordings = {"enabled": True, "storage_dir": str(tmp_path / "recordings"), "workers": 1}
    return await make_hook(aiohttp_client, db_url, "zadarma", settings, recordings=recordings)


async def settled_call(hook: Hook) -> dict[str, Any]:
    """The call record once the worker is done with its recording (ready or failed)."""
    try:
        async with asyncio.timeout(WITHIN):
            while True:
                [call] = await hook.calls()
                recording = call["recording"]
                if recording is not None and recording.get("status") in ("ready", "failed"):
                    return call
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"the recording was neither ready nor failed after {WITHIN} s") from None


async def test_the_recording_is_fetched_transcoded_and_playable(zadarma: Hook, fake: FakeProviders) -> None:
    await deliver(zadarma, inbound_answered())
    call = await settled_call(zadarma)
    recording = call["recording"]
    assert recording["status"] == "ready", recording
    assert recording["format"] == "audio/ogg; codecs=opus"
    # The provider's file is one second of tone.
    assert 0.9 <= recording["duration_seconds"] <= 1.1
    assert recording["failure"] is None
    assert [s.path for s in fake.seen] == ["/v1/pbx/record/request/", f"/files/zadarma-{fp.ZADARMA_CALL}.mp3"]

    await add_user(zadarma.app, "boss", "manager")
    await log_in(zadarma.client, "boss")
    async with zadarma.client.get(recording["url"]) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "audio/ogg; codecs=opus"
        assert (await resp.read()).startswith(b"OggS")


async def test_a_provider_answering_503_then_200_ends_ready(zadarma: Hook, fake: FakeProviders) -> None:
    fake.switches.fail_first, fake.switches.retry_after = 1, "0"
    await deliver(zadarma, inbound_answered())
    call = await settled_call(zadarma)
    assert call["recording"]["status"] == "ready", call["recording"]
    assert [s.path for s in fake.seen][:2] == ["/v1/pbx/record/request/", "/v1/pbx/record/request/"]


async def test_a_web_page_instead_of_audio_fails_the_recording_not_the_call(
    zadarma: Hook, fake: FakeProviders
) -> None:
    fake.switches.html = True
    await deliver(zadarma, inbound_answered())
    call = await settled_call(zadarma)
    recording = call["recording"]
    assert recording["status"] == "failed"
    assert recording["failure"] == "The provider sent a web page, not audio"
    assert recording["url"] is None
    assert call["status"] == "answered" and call["operator"] == "101"


@pytest.fixture
async def telnyx(db_url: str, aiohttp_client: ClientMaker, fake: FakeProviders, tmp_path: Path) -> Hook:
    settings = {"public_key": telnyx_hooks.PUBLIC_KEY, "api_base_url": fake.api_url, "api_key": fp.TELNYX_KEY}
    recordings = {"enabled": True, "storage_dir": str(tmp_path / "recordings"), "workers": 1}
    return await make_hook(aiohttp_client, db_url, "telnyx", settings, recordings=recordings)


async def deliver_telnyx(hook: Hook, events: list[telnyx_hooks.Event]) -> None:
    for event in events:
        body = json.dumps(event, separators=(",", ":")).encode()
        stamp = str(int(time.time()))
        signature = base64.b64encode(telnyx_hooks.KEY.sign(stamp.encode() + b"|" + body)).decode()
        headers = {"telnyx-signature-ed25519": signature, "telnyx-timestamp": stamp}
        status, reply = await hook.send(
            "POST", "/", body=body, content_type="application/json", headers=headers
        )
        assert status == 200, reply


async def test_a_telnyx_link_expired_before_the_fetch_is_renewed_through_the_api(
    telnyx: Hook, fake: FakeProviders
) -> None:
    events = telnyx_hooks.inbound_answered()
    saved = events[-1]["data"]["payload"]
    # The recording was saved days ago: its pre-signed link ran out ten minutes after that.
    saved["recording_id"] = fp.TELNYX_RECORDING
    saved["recording_urls"] = {"mp3": fake.presigned("old.mp3"), "wav": fake.presigned("old.wav")}
    await deliver_telnyx(telnyx, events)
    call = await settled_call(telnyx)
    assert call["recording"]["status"] == "ready", call["recording"]
    assert [s.path for s in fake.seen] == [f"/v2/recordings/{fp.TELNYX_RECORDING}", "/s3/fresh.mp3"]


async def test_a_worker_killed_in_the_middle_of_a_download_loses_nothing(
    engine: AsyncEngine, fake: FakeProviders, tmp_path: Path
) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(T0 + timedelta(minutes=1))
    ref = {"provider": "zadarma", "pbx_call_id": fp.ZADARMA_PBX_CALL, "call_id_with_rec": fp.ZADARMA_CALL}
    call = await pipeline(sessions, clock).record(
        answered(1, pbx="zadarma", recording_ref={**ref, "ready": True})
    )
    settings = Settings.model_validate(
        {
            "pbx": {
                "zadarma": {
                    "api_key": fp.ZADARMA_KEY,
                    "api_secret": fp.ZADARMA_SECRET,
                    "api_base_url": fake.api_url,
                }
            },
            "recordings": {"storage_dir": str(tmp_path / "store"), "workers": 1},
        }
    )

    def worker(name: str, pool: ProcessPool) -> RecordingWorker:
        storage = LocalDiskStorage(tmp_path / "store")
        timing = WorkerTiming(claim_seconds=60)
        return RecordingWorker(
            JobStore(sessions), storage, settings, pool, clock=clock, timing=timing, name=name
        )

    fake.switches.stall_after = 1000
    pool = ProcessPool(1)
    try:
        first = worker("node-a", pool)
        killed = asyncio.create_task(first.run_once())
        incoming = tmp_path / "store" / "incoming"
        await eventually(
            lambda: incoming.is_dir() and any(incoming.iterdir()), "the download to have begun", within=WITHIN
        )
        killed.cancel()  # the node is gone in the middle of the download: its claim stays until it runs out
        with pytest.raises(asyncio.CancelledError):
            await killed
        await first.stop()  # only closes its HTTP client: it held nothing in its own loop

        fake.switches.stall_after = 0
        second = worker("node-b", pool)
        assert await second.run_once() == 0, "the first worker's claim still holds"
        clock.advance(seconds=61)
        assert await second.run_once() == 1
        await second.stop()
    finally:
        await pool.close()
    row = (await rows(sessions))[call.id]
    assert row.status == "ready" and row.failure is None and row.mime == "audio/ogg; codecs=opus"
    # The half-done download was overwritten and the original removed after transcoding.
    assert list((tmp_path / "store" / "incoming").iterdir()) == []
    assert len(fake.file_requests()) == 2
