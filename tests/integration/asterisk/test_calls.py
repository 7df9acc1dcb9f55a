"""Real SIP calls through a real Asterisk 22 (SIPp as trunk and phones), received by kolokol's own AMI
client, assembled and stored: the call records and callback tasks are checked field by field."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from kolokol.calls.asterisk_ingest import AsteriskIngest
from kolokol.calls.pipeline import CallPipeline
from kolokol.calls.record_json import calls_json
from kolokol.calls.wiring import make_classifier
from kolokol.phones import PhoneNormalizer
from kolokol.settings import Settings
from kolokol.storage.engine import make_engine, make_sessionmaker
from kolokol.storage.migrate import upgrade
from kolokol.storage.tables import Call
from pbx.ami import AmiClient
from pbx.assembler import CallAssembler
from tests.support import asterisk_harness as h
from tests.support.expected_calls import EXPECTED, HARNESS_SETTINGS, assert_matches

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(240)]


# The harness clinic's phones (account-code endpoints known as 201/202), as kolokol would be configured.
SETTINGS = Settings.model_validate(HARNESS_SETTINGS)


def harness_assembler() -> CallAssembler:
    return CallAssembler(PhoneNormalizer().e164, classifier=make_classifier(SETTINGS), settle_seconds=0.5)


def kolokol_ami(ingest: AsteriskIngest) -> AmiClient:
    """kolokol's own AMI client, logged in as the harness's least-privilege user, registered for the
    events kolokol handles (what the shipped eventfilter lets through)."""
    return AmiClient(
        host=h.AMI_HOST,
        port=h.AMI_PORT,
        username=h.AMI_USER,
        secret=h.AMI_SECRET,
        on_event=ingest.on_event,
        on_resync=ingest.on_resync,
        events=ingest.handled_events,
    )


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    # Storage is proven on both databases elsewhere; here the PBX side is under test, on SQLite.
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'live.sqlite3'}")
    await upgrade(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def live(asterisk: None, engine: AsyncEngine) -> AsyncIterator[AsteriskIngest]:
    sessions = make_sessionmaker(engine)
    ingest = AsteriskIngest(
        harness_assembler(),
        CallPipeline(sessions, sla=timedelta(minutes=15)),
        tick_seconds=0.2,
    )
    client = kolokol_ami(ingest)
    ingest.start()
    await client.start()
    deadline = time.monotonic() + 15
    while not client.logged_in:
        assert time.monotonic() < deadline, "kolokol could not log in to the real Asterisk"
        await asyncio.sleep(0.05)
    yield ingest
    await client.stop()
    await ingest.stop()


def _run_scenario(name: str) -> None:
    with h.AmiClient() as ami:
        h.SCENARIOS[name](ami)


@pytest.mark.parametrize("scenario", sorted(EXPECTED))
async def test_real_call_becomes_the_right_record(
    scenario: str, live: AsteriskIngest, engine: AsyncEngine
) -> None:
    await asyncio.to_thread(_run_scenario, scenario)
    expected = EXPECTED[scenario]
    deadline = time.monotonic() + 20
    while live.calls_recorded < len(expected):
        assert time.monotonic() < deadline, (
            f"only {live.calls_recorded} of {len(expected)} calls were recorded"
        )
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # anything extra (a wrongly split call) would show up now
    sessions = make_sessionmaker(engine)
    async with sessions() as session:
        rows = (await session.scalars(select(Call).order_by(Call.started_at))).all()
        records: list[dict[str, Any]] = await calls_json(session, rows)
    assert_matches(records, expected, timed=True)


async def test_a_call_that_ends_while_kolokol_is_disconnected_is_settled_on_reconnect(
    asterisk: None, engine: AsyncEngine
) -> None:
    sessions = make_sessionmaker(engine)
    assembler = harness_assembler()
    ingest = AsteriskIngest(assembler, CallPipeline(sessions, sla=timedelta(minutes=15)), tick_seconds=0.2)
    ingest.start()
    first = kolokol_ami(ingest)
    await first.start()
    scenario = asyncio.create_task(asyncio.to_thread(_run_scenario, "ringall_answered"))
    deadline = time.monotonic() + 15
    while assembler.open_calls == 0:
        assert time.monotonic() < deadline, "the call never showed up"
        await asyncio.sleep(0.05)
    # 102 answers after 2 s and the caller talks for 4 s: drop the connection in the middle of the talk.
    await asyncio.sleep(3.5)
    await first.stop()
    assert assembler.open_calls == 1
    await scenario  # the caller hangs up while kolokol is away
    second = kolokol_ami(ingest)
    await second.start()
    deadline = time.monotonic() + 15
    while ingest.calls_recorded < 1:
        assert time.monotonic() < deadline, "the call was never settled after the reconnect"
        await asyncio.sleep(0.1)
    await second.stop()
    await ingest.stop()
    assert assembler.open_calls == 0
    async with sessions() as session:
        [record] = await calls_json(session, (await session.scalars(select(Call))).all())
    assert (record["status"], record["answered_by"], record["operator"]) == ("answered", "102", "102")
