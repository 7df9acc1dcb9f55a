"""The recordings worker on a real database and disk, with real transcoding: a stored call's recording
becomes playable; a worker that dies loses nothing; two workers never take the same row; bad audio fails
alone; retention purges the audio and keeps the call."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kolokol.calls.record_json import calls_json
from kolokol.storage.engine import make_sessionmaker
from kolokol.storage.tables import Call
from recordings.job_store import JobStore
from recordings.outcomes import Done, RetryLater
from recordings.pool import ProcessPool
from recordings.storage import LocalDiskStorage
from recordings.worker import RecordingWorker
from tests.support.clock import Clock
from tests.support.recording_jobs import (
    T0,
    FakeAcquire,
    StuckPool,
    answered,
    dying_process,
    make_worker,
    pipeline,
    recording_settings,
    rows,
    two_channel_wav,
)


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    return two_channel_wav(tmp_path / "call.wav")


async def test_an_answered_recorded_call_becomes_playable(
    engine: AsyncEngine, tmp_path: Path, wav: Path
) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(T0 + timedelta(minutes=1))
    call = await pipeline(sessions, clock).record(answered(1, recording_file="in-101.wav"))
    await pipeline(sessions, clock).record(answered(2))  # answered, nothing recorded: no row
    planned = await rows(sessions)
    assert list(planned) == [call.id]
    assert (planned[call.id].origin, planned[call.id].ref, planned[call.id].status) == (
        "asterisk",
        {"file": "in-101.wav"},
        "pending",
    )

    settings = recording_settings(tmp_path / "store")
    worker = make_worker(sessions, settings, FakeAcquire(wav), clock)
    assert await worker.run_once() == 1

    row = (await rows(sessions))[call.id]
    assert row.status == "ready" and row.failure is None
    assert row.audio_key == f"2026/12/03/{row.id}.ogg"
    stored = tmp_path / "store" / "2026" / "12" / "03" / f"{row.id}.ogg"
    assert stored.read_bytes()[:4] == b"OggS" and row.size_bytes == stored.stat().st_size
    assert row.duration_seconds == pytest.approx(4.0, abs=0.1) and row.channels == 2
    assert row.figures is not None and row.figures["talk_seconds"] is not None
    # The original is not kept (keep_originals = false) and nothing is left in incoming/.
    assert row.original_key is None and list((tmp_path / "store" / "incoming").iterdir()) == []

    async with sessions() as session:
        stored_call = await session.get(Call, call.id)
        assert stored_call is not None
        [record] = await calls_json(session, [stored_call])
    assert record["recording"] == {
        "id": row.id,
        "status": "ready",
        "duration_seconds": row.duration_seconds,
        "format": "audio/ogg; codecs=opus",
        "url": f"/api/recordings/{row.id}/audio",
        "peaks_url": f"/api/recordings/{row.id}/peaks",
        "failure": None,
        "figures": row.figures,
    }


async def test_originals_are_kept_when_the_setting_says_so(
    engine: AsyncEngine, tmp_path: Path, wav: Path
) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(T0 + timedelta(minutes=1))
    call = await pipeline(sessions, clock).record(answered(1, recording_file="in-101.wav"))
    settings = recording_settings(tmp_path / "store", keep_originals=True, format="mp3")
    await make_worker(sessions, settings, FakeAcquire(wav), clock).run_once()
    row = (await rows(sessions))[call.id]
    assert row.audio_key == f"2026/12/03/{row.id}.mp3" and row.mime == "audio/mpeg"
    assert row.original_key == f"2026/12/03/{row.id}.original.wav"
    kept, original = (tmp_path / "store" / row.original_key), wav
    assert await asyncio.to_thread(kept.read_bytes) == await asyncio.to_thread(original.read_bytes)


async def test_a_worker_killed_while_acquiring_loses_nothing(
    engine: AsyncEngine, tmp_path: Path, wav: Path
) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(T0 + timedelta(minutes=1))
    call = await pipeline(sessions, clock).record(answered(1, recording_file="in-101.wav"))
    row_id = (await rows(sessions))[call.id].id
    settings = recording_settings(tmp_path / "store")

    dying = FakeAcquire(wav, hang={row_id})
    first = make_worker(sessions, settings, dying, clock, name="node-a", claim_seconds=60)
    killed = asyncio.create_task(first.run_once())
    await dying.entered.wait()
    killed.cancel()  # the process is gone: no clean stop, its claim stays until it runs out
    with pytest.raises(asyncio.CancelledError):
        await killed

    second_acquire = FakeAcquire(wav)
    second = make_worker(sessions, settings, second_acquire, clock, name="node-b", claim_seconds=60)
    assert await second.run_once() == 0, "the claim of the first worker still holds"
    clock.advance(seconds=61)
    assert await second.run_once() == 1
    row = (await rows(sessions))[call.id]
    assert row.status == "ready" and second_acquire.calls == {row_id: 1}


async def test_a_worker_killed_while_transcoding_leaves_the_original_for_the_next(
    engine: AsyncEngine, tmp_path: Path, wav: Path
) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(T0 + timedelta(minutes=1))
    call = await pipeline(sessions, clock).record(answered(1, recording_file="in-101.wav"))
    settings = recording_settings(tmp_path / "store")
    stuck = StuckPool()
    first = make_worker(sessions, settings, FakeAcquire(wav), clock, pool=stuck, name="node-a")
    killed = asyncio.create_task(first.run_once())
    await stuck.entered.wait()
    killed.cancel()
    with pytest.raises(asyncio.CancelledError):
        await killed
    row = (await rows(sessions))[call.id]
    assert (row.status, row.stage) == ("pending", "process")

    clock.advance(seconds=61)
    again = FakeAcquire(wav)
    assert await make_worker(sessions, settings, again, clock, name="node-b").run_once() == 1
    row = (await rows(sessions))[call.id]
    assert row.status == "ready"
    assert again.calls == {}, "the original acquired before the restart was processed, not fetched again"


async def test_a_clean_stop_gives_claims_back_at_once(engine: AsyncEngine, tmp_path: Path, wav: Path) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(T0 + timedelta(minutes=1))
    call = await pipeline(sessions, clock).record(answered(1, recording_file="in-101.wav"))
    row_id = (await rows(sessions))[call.id].id
    settings = recording_settings(tmp_path / "store")
    hanging = FakeAcquire(wav, hang={row_id})
    first = make_worker(sessions, settings, hanging, clock, name="node-a")
    await first.start()
    await hanging.entered.wait()
    await first.stop()
    assert await make_worker(sessions, settings, FakeAcquire(wav), clock, name="node-b").run_once() == 1
    assert (await rows(sessions))[call.id].status == "ready"


async def test_two_workers_never_take_the_same_row(engine: AsyncEngine, tmp_path: Path) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(T0 + timedelta(minutes=1))
    await pipeline(sessions, clock).record_many([answered(n, recording_file=f"f{n}.wav") for n in range(40)])
    store_a, store_b = JobStore(sessions), JobStore(sessions)
    taken: list[list[str]] = []
    for _ in range(10):
        a, b = await asyncio.gather(
            store_a.claim("a", clock(), timedelta(minutes=5), 3),
            store_b.claim("b", clock(), timedelta(minutes=5), 3),
        )
        taken.append([job.id for job in a] + [job.id for job in b])
    ids = [job_id for batch in taken for job_id in batch]
    assert len(ids) == 40 and len(set(ids)) == 40


async def test_bad_audio_fails_with_a_reason_and_the_worker_goes_on(
    engine: AsyncEngine, tmp_path: Path, wav: Path
) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(T0 + timedelta(minutes=1))
    bad_call = await pipeline(sessions, clock).record(answered(1, recording_file="bad.wav"))
    good_call = await pipeline(sessions, clock).record(answered(2, recording_file="good.wav"))
    planned = await rows(sessions)
    html = tmp_path / "page.html"
    html.write_text("<!doctype html><html><body>Login required</body></html>")
    acquire = FakeAcquire(wav, answers={planned[bad_call.id].id: Done(html)})
    settings = recording_settings(tmp_path / "store")
    assert await make_worker(sessions, settings, acquire, clock).run_once() == 2
    after = await rows(sessions)
    assert after[bad_call.id].status == "failed" and after[bad_call.id].failure
    assert after[good_call.id].status == "ready"
    assert list((tmp_path / "store" / "incoming").iterdir()) == []
    async with sessions() as session:
        stored = await session.get(Call, bad_call.id)
        assert stored is not None and stored.status == "answered"
        [record] = await calls_json(session, [stored])
    assert record["recording"]["status"] == "failed" and record["recording"]["url"] is None
    assert record["recording"]["failure"] == after[bad_call.id].failure


async def test_a_transient_trouble_waits_its_turn(engine: AsyncEngine, tmp_path: Path, wav: Path) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(T0 + timedelta(minutes=1))
    ref = {"provider": "zadarma", "pbx_call_id": "z1"}
    call = await pipeline(sessions, clock).record(answered(1, recording_ref=ref, pbx="zadarma"))
    row_id = (await rows(sessions))[call.id].id
    acquire = FakeAcquire(wav, answers={row_id: RetryLater("the provider answered 503")})
    worker = make_worker(sessions, recording_settings(tmp_path / "store"), acquire, clock)
    assert await worker.run_once() == 1
    row = (await rows(sessions))[call.id]
    assert (row.status, row.attempts, row.failure) == ("pending", 1, None)
    assert await worker.run_once() == 0, "not due before its backoff"
    clock.advance(seconds=5)
    del acquire.answers[row_id]
    assert await worker.run_once() == 1
    assert (await rows(sessions))[call.id].status == "ready"


async def test_a_later_reference_refreshes_a_pending_row_but_never_a_ready_one(
    engine: AsyncEngine, tmp_path: Path, wav: Path
) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(T0 + timedelta(minutes=1))
    first_ref = {"provider": "twilio", "recording_sid": "RE1"}
    call = await pipeline(sessions, clock).record(answered(1, recording_ref=first_ref, pbx="twilio"))
    row_id = (await rows(sessions))[call.id].id
    acquire = FakeAcquire(wav, answers={row_id: RetryLater("not yet")})
    worker = make_worker(sessions, recording_settings(tmp_path / "store"), acquire, clock)
    await worker.run_once()
    assert (await rows(sessions))[call.id].attempts == 1

    second_ref = {"provider": "twilio", "recording_sid": "RE2"}
    await pipeline(sessions, clock).record(answered(1, recording_ref=second_ref, pbx="twilio"))
    row = (await rows(sessions))[call.id]
    assert (row.ref, row.attempts, row.next_attempt_at) == (second_ref, 0, clock())
    del acquire.answers[row_id]
    assert await worker.run_once() == 1
    assert (await rows(sessions))[call.id].status == "ready"

    await pipeline(sessions, clock).record(
        answered(1, recording_ref={"provider": "twilio", "recording_sid": "RE3"}, pbx="twilio")
    )
    row = (await rows(sessions))[call.id]
    assert (row.status, row.ref) == ("ready", second_ref)


async def test_retention_purges_the_audio_and_keeps_the_call(
    engine: AsyncEngine, tmp_path: Path, wav: Path
) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(T0 + timedelta(minutes=1))
    old = await pipeline(sessions, clock).record(
        answered(1, recording_file="old.wav", started_at=T0 - timedelta(days=40))
    )
    center = await pipeline(sessions, clock, {"+74952220002": "Center"}).record(
        answered(2, recording_file="c.wav", started_at=T0 - timedelta(days=40), called="+74952220002")
    )
    recent = await pipeline(sessions, clock).record(answered(3, recording_file="new.wav"))
    settings = recording_settings(
        tmp_path / "store", retention_days=30, retention_days_by_branch={"Center": 0}
    )
    worker = make_worker(sessions, settings, FakeAcquire(wav), clock)
    while await worker.run_once():
        pass
    before = await rows(sessions)
    assert {r.status for r in before.values()} == {"ready"}

    assert await worker.purge_once() == 1
    after = await rows(sessions)
    purged = after[old.id]
    assert purged.status == "purged" and purged.purged_at == clock() and purged.audio_key is None
    assert not (tmp_path / "store" / before[old.id].audio_key).exists()  # type: ignore[operator]
    assert after[center.id].status == "ready" and after[recent.id].status == "ready"
    async with sessions() as session:
        kept = (await session.scalars(select(Call).where(Call.id == old.id))).one()
        [record] = await calls_json(session, [kept])
    assert record["recording"]["status"] == "purged" and record["recording"]["url"] is None
    assert await worker.purge_once() == 0


async def test_the_running_worker_takes_rows_planned_while_it_runs(
    engine: AsyncEngine, tmp_path: Path, wav: Path
) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(T0 + timedelta(minutes=1))
    worker = make_worker(sessions, recording_settings(tmp_path / "store"), FakeAcquire(wav), clock)
    await worker.start()
    try:
        calls = [
            await pipeline(sessions, clock).record(answered(n, recording_file=f"{n}.wav")) for n in range(3)
        ]
        worker.poke()
        # Only a bound for a broken run: three seconds of audio take far less.
        async with asyncio.timeout(60):
            while {r.status for r in (await rows(sessions)).values()} != {"ready"}:  # noqa: ASYNC110 - rows in the database
                await asyncio.sleep(0.05)
    finally:
        await worker.stop()
    assert {c.id for c in calls} == set((await rows(sessions)).keys())


async def test_an_idle_worker_knows_when_to_look_again(
    engine: AsyncEngine, tmp_path: Path, wav: Path
) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(T0 + timedelta(minutes=1))
    store = JobStore(sessions)
    assert await store.next_due_at(clock()) is None
    await pipeline(sessions, clock).record(answered(1, recording_file="1.wav"))
    assert await store.next_due_at(clock()) == clock()
    [_held] = await store.claim("other-node", clock(), timedelta(minutes=5), 10)
    # Held by another node: not before its claim runs out.
    assert await store.next_due_at(clock()) == clock() + timedelta(minutes=5)


async def test_without_ffmpeg_recordings_wait_instead_of_failing(
    engine: AsyncEngine, tmp_path: Path, wav: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(T0 + timedelta(minutes=1))
    call = await pipeline(sessions, clock).record(answered(1, recording_file="in-101.wav"))
    worker = make_worker(sessions, recording_settings(tmp_path / "store"), FakeAcquire(wav), clock)
    path = os.environ["PATH"]
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    for _ in range(10):
        await worker.run_once()
        clock.advance(minutes=1)
    row = (await rows(sessions))[call.id]
    assert (row.status, row.stage, row.attempts, row.failure) == ("pending", "process", 0, None)

    monkeypatch.setenv("PATH", path)
    assert await worker.run_once() == 1
    assert (await rows(sessions))[call.id].status == "ready"


async def test_a_transcoder_that_dies_is_replaced_and_the_recording_tried_again(
    engine: AsyncEngine, tmp_path: Path, wav: Path
) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(T0 + timedelta(minutes=1))
    call = await pipeline(sessions, clock).record(answered(1, recording_file="in-101.wav"))
    settings = recording_settings(tmp_path / "store")
    pool = ProcessPool(1)
    try:
        dying = RecordingWorker(
            JobStore(sessions),
            LocalDiskStorage(tmp_path / "store"),
            settings,
            pool,
            acquire=FakeAcquire(wav),
            process=dying_process,
            clock=clock,
        )
        assert await dying.run_once() == 1
        row = (await rows(sessions))[call.id]
        assert (row.status, row.stage, row.attempts) == ("pending", "process", 1)
        clock.advance(minutes=1)
        # The same pool, made anew after the death: the recording is done.
        assert await make_worker(sessions, settings, FakeAcquire(wav), clock, pool=pool).run_once() == 1
        assert (await rows(sessions))[call.id].status == "ready"
    finally:
        await pool.close()
