"""Property: however session opens, resumes, heartbeats and expiries interleave, from several workers at
once (each its own engine and lease thread, as separate processes would be), a pool number is never
leased to two live sessions; and every number a page is shown is the one its session's lease holds.

Hypothesis plans rounds: in each, the clock moves on (by nothing, less than a heartbeat, past an
unconfirmed lease, past the hold...) and a batch of visitors act at the same moment through random
workers, concurrently. A small pool (2-3 numbers) for 6 visitors keeps it full: most opens race for the
last free number. The lease history is then checked: for each number, every lease begins at or after the
previous one's end; SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from calltracking.lease_book import LeaseBook
from calltracking.lease_engine import Answer, EngineLimits, NoSuchSession, SessionRequest
from calltracking.site_settings import site_settings
from calltracking.tracking_store import upsert_site
from calltracking.visit_source import classify
from kolokol.phones import PhoneNormalizer
from kolokol.storage.engine import make_engine, make_sessionmaker
from kolokol.storage.migrate import upgrade
from kolokol.storage.tables import Lease, TrackingPool
from kolokol.storage.write_lock import write_transaction
from tests.support.databases import reset_if_postgres

WORKERS = 3
VISITORS = 6
T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CLINIC = "+74951110001"
LIMITS = EngineLimits(session_idle_seconds=300, unconfirmed_per_address=0)
_sites = itertools.count(1)


@dataclass(frozen=True)
class Act:
    kind: str  # "open", "resume", "heartbeat"
    visitor: int
    worker: int


acts = st.builds(
    Act,
    kind=st.sampled_from(["open", "resume", "heartbeat", "heartbeat"]),
    visitor=st.integers(0, VISITORS - 1),
    worker=st.integers(0, WORKERS - 1),
)
rounds = st.lists(
    st.tuples(
        st.sampled_from([0, 1, 15, 30, 59, 60, 61, 119, 120, 121, 301]),
        st.lists(acts, min_size=1, max_size=10),
    ),
    min_size=1,
    max_size=8,
)


def test_no_number_is_ever_leased_to_two_live_sessions(db_url: str) -> None:
    asyncio.run(_prepare(db_url))

    @settings(
        max_examples=20 if db_url.startswith("postgresql") else 30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        database=None,
    )
    @given(plan=rounds, size=st.integers(2, 3))
    def check(plan: list[tuple[int, list[Act]]], size: int) -> None:
        asyncio.run(_play(db_url, plan, size))

    check()


async def _prepare(db_url: str) -> None:
    await reset_if_postgres(db_url)
    engine = make_engine(db_url)
    await upgrade(engine)
    await engine.dispose()


async def _play(db_url: str, plan: list[tuple[int, list[Act]]], size: int) -> None:
    site, numbers = await _new_site(db_url, size)
    engines = [make_engine(db_url) for _ in range(WORKERS)]
    books = [LeaseBook(make_sessionmaker(engine), LIMITS) for engine in engines]
    sessions: dict[int, str] = {}
    shown: list[tuple[datetime, str, str]] = []  # (when, session, number shown)
    now = T0
    try:
        for advance, batch in plan:
            now += timedelta(seconds=advance)
            answers = await asyncio.gather(
                *(_act(books[a.worker], site, a, sessions.get(a.visitor), now) for a in batch)
            )
            for act, answer in zip(batch, answers, strict=True):
                if answer is None:
                    sessions.pop(act.visitor, None)
                    continue
                assert answer.session is not None
                sessions[act.visitor] = answer.session
                if (number := answer.numbers.get(CLINIC)) in numbers:
                    shown.append((now, answer.session, number))
    finally:
        for book in books:
            await book.close()
        for engine in engines:
            await engine.dispose()
    await _check_history(db_url, site, shown)


async def _act(book: LeaseBook, site: str, act: Act, session: str | None, now: datetime) -> Answer | None:
    if act.kind == "heartbeat" and session is not None:
        try:
            return await book.heartbeat(site, session, now)
        except NoSuchSession:
            return None
    request = SessionRequest(
        site_id=site,
        session_id=session if act.kind == "resume" else None,
        visit=classify("https://clinic.example/", None),
        address=f"198.51.100.{act.visitor}",
    )
    return await book.open(request, now)


async def _new_site(db_url: str, size: int) -> tuple[str, list[str]]:
    """A site of its own per example (the database is shared by the examples), with its own numbers."""
    n = next(_sites)
    site = f"site-{n}"
    numbers = [f"+7495{n:04d}{k:03d}" for k in range(size)]
    wanted = site_settings(
        {
            "origins": ["https://clinic.example"],
            "hold_seconds": 120,
            "heartbeat_seconds": 30,
            "max_lease_seconds": 600,
            "pools": [{"name": "p", "replaces": [CLINIC], "numbers": numbers, "fallback": CLINIC}],
        },
        PhoneNormalizer(),
    )
    engine = make_engine(db_url)

    async def create(db: AsyncSession) -> bool:
        return await upsert_site(db, site, wanted, T0)

    try:
        await write_transaction(make_sessionmaker(engine), create)
    finally:
        await engine.dispose()
    return site, [PhoneNormalizer().e164(number) or number for number in numbers]


async def _check_history(db_url: str, site: str, shown: list[tuple[datetime, str, str]]) -> None:
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as db:
            pool_id = await db.scalar(select(TrackingPool.id).where(TrackingPool.site_id == site))
            leases = (
                await db.scalars(
                    select(Lease)
                    .where(Lease.pool_id == pool_id, Lease.overflow.is_(False))
                    .order_by(Lease.number, Lease.started_at, Lease.id)
                )
            ).all()
    finally:
        await engine.dispose()
    by_number: dict[str, list[Lease]] = {}
    for lease in leases:
        by_number.setdefault(lease.number, []).append(lease)
    for number, held in by_number.items():
        for before, after in itertools.pairwise(held):
            assert after.started_at >= before.ends_at, (
                f"{number} leased to {after.session_id} at {after.started_at} while {before.session_id} "
                f"held it until {before.ends_at}"
            )
    for when, session, number in shown:
        holding = [
            lease
            for lease in by_number.get(number, [])
            if lease.session_id == session and lease.started_at <= when < lease.ends_at
        ]
        assert holding, f"{session} was shown {number} at {when} without a lease on it"
