"""Claims: a worker writes only while it holds the row; a claim is renewed only by its holder; a newer
reference takes the row away from a worker busy with the old one."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from kolokol.storage.engine import make_sessionmaker
from recordings import jobs
from recordings.job_store import JobStore
from tests.support.clock import Clock
from tests.support.recording_jobs import T0, answered, pipeline, rows

CLAIM = timedelta(minutes=5)


async def test_a_worker_whose_claim_ran_out_and_was_taken_writes_nothing(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(T0)
    call = await pipeline(sessions, clock).record(answered(1, recording_file="a.wav"))
    store = JobStore(sessions)
    [slow] = await store.claim("slow", clock(), CLAIM, 1)
    clock.advance(minutes=6)
    [fast] = await store.claim("fast", clock(), CLAIM, 1)
    assert fast.id == slow.id
    assert not await store.finish("slow", slow.id, jobs.processed(clock()), clock(), audio_key="x/y.ogg")
    assert await store.finish("fast", fast.id, jobs.processed(clock()), clock(), audio_key="2026/12/03/a.ogg")
    row = (await rows(sessions))[call.id]
    assert (row.status, row.audio_key, row.claimed_by) == ("ready", "2026/12/03/a.ogg", None)


async def test_only_the_holder_renews_a_claim(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(T0)
    call = await pipeline(sessions, clock).record(answered(1, recording_file="a.wav"))
    store = JobStore(sessions)
    [job] = await store.claim("holder", clock(), CLAIM, 1)
    await store.renew("someone-else", [job.id], clock() + timedelta(hours=1))
    assert (await rows(sessions))[call.id].claimed_until == clock() + CLAIM
    await store.renew("holder", [job.id], clock() + timedelta(minutes=20))
    assert (await rows(sessions))[call.id].claimed_until == clock() + timedelta(minutes=20)


async def test_a_newer_reference_takes_the_row_from_a_worker_busy_with_the_old(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    clock = Clock(T0)
    old = {"provider": "telnyx", "recording_id": "r1", "recording_urls": {"mp3": "https://x/1.mp3"}}
    new = {"provider": "telnyx", "recording_id": "r1", "recording_urls": {"mp3": "https://x/2.mp3"}}
    call = await pipeline(sessions, clock).record(answered(1, recording_ref=old, pbx="telnyx"))
    store = JobStore(sessions)
    [busy] = await store.claim("busy", clock(), CLAIM, 1)
    clock.advance(seconds=30)
    await pipeline(sessions, clock).record(answered(1, recording_ref=new, pbx="telnyx"))
    assert not await store.finish(
        "busy", busy.id, jobs.acquired(clock()), clock(), original_key="incoming/x.orig"
    )
    row = (await rows(sessions))[call.id]
    assert (row.ref, row.stage, row.claimed_by, row.next_attempt_at) == (new, "acquire", None, clock())
    [again] = await store.claim("next", clock(), CLAIM, 1)
    assert again.ref == new
