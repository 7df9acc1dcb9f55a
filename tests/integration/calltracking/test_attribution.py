"""Attribution in the database, on SQLite and PostgreSQL: the call pipeline gives new inbound calls their
source (and the report columns), keeps a stored call's source, and the caller card shows the same source
at the ring; a batch reads its inputs with a few queries whatever its size."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kolokol.calls.pipeline import CallPipeline
from kolokol.calls.record_json import calls_json
from kolokol.feed.caller_cards import CardBuilder
from kolokol.phones import PhoneNormalizer
from kolokol.storage.engine import make_sessionmaker
from kolokol.storage.tables import Call
from pbx.call_record import PbxCallRecord
from pbx.live import LiveCall
from tests.support.tracking_history import CLINIC, History

RING = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
POOL = ["+74951110021", "+74951110022", "+74951110023"]
FALLBACK = "+74951110029"
BILLBOARD = "+74951110050"
CALLER = "+79161234567"
MIN = timedelta(minutes=1)


def inbound(
    n: int, called: str, *, caller: str = CALLER, at: datetime = RING, direction: str = "inbound"
) -> PbxCallRecord:
    return PbxCallRecord(
        pbx="asterisk",
        pbx_call_id=f"2.{n}",
        direction=direction,  # type: ignore[arg-type]
        caller=caller if direction == "inbound" else "101",
        caller_name=None,
        called=called if direction == "inbound" else caller,
        status="answered" if direction == "inbound" else "unanswered",
        disposition="answered" if direction == "inbound" else "no_answer",
        missed_where=None,
        operator="101",
        answered_by="101" if direction == "inbound" else None,
        rang=("101",),
        transfers=(),
        started_at=at,
        answered_at=at + timedelta(seconds=5) if direction == "inbound" else None,
        ended_at=at + timedelta(seconds=90),
    )


def ringing(record: PbxCallRecord) -> LiveCall:
    caller = record.caller if record.caller.startswith("+") else None
    return LiveCall(
        pbx=record.pbx,
        pbx_call_id=record.pbx_call_id,
        direction=record.direction,
        state="ringing",
        caller=record.caller,
        caller_name=None,
        called=record.called,
        number=caller,
        ringing=("101",),
        talking=(),
        rang=("101",),
        queue=None,
        operator=None,
        answered_by=None,
        started_at=record.started_at,
        answered_at=None,
        ended_at=None,
    )


async def clinic(sessions: async_sessionmaker[AsyncSession]) -> int:
    """A site with a pool (a dedicated fallback), a static number, and the pool's lease history."""
    async with sessions.begin() as db:
        rows = History(db)
        pool_id = await rows.site(POOL, fallback=FALLBACK)
        rows.static(BILLBOARD, source="billboard", medium="outdoor", campaign="metro", branch="Север")
        rows.visit("s-live", RING - 5 * MIN, source="yandex", medium="cpc", campaign="implants", yclid="y-1")
        rows.visit("s-gone", RING - 90 * MIN, channel="organic", source="google", medium="organic")
        rows.visit("s-over", RING - 2 * MIN, channel="referral", source="prodoctorov.ru")
        rows.lease("s-live", POOL[0], RING - 5 * MIN, RING + 5 * MIN)
        rows.lease("s-gone", POOL[1], RING - 90 * MIN, RING - 60 * MIN)
        rows.lease("s-over", FALLBACK, RING - 2 * MIN, RING + 3 * MIN, overflow=True)
        # After the ring: changes nothing for a call that rang before it.
        rows.visit("s-after", RING + MIN, channel="social", source="vk.com")
        rows.lease("s-after", POOL[2], RING + MIN, RING + 10 * MIN)
    return pool_id


async def stored(sessions: async_sessionmaker[AsyncSession]) -> dict[str, dict[str, Any]]:
    async with sessions() as db:
        calls = (await db.scalars(select(Call).order_by(Call.pbx_call_id))).all()
        return {c["pbx_call_id"]: c for c in await calls_json(db, calls)}


async def test_new_inbound_calls_get_their_source_and_the_card_shows_the_same(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    await clinic(sessions)
    records = [
        inbound(1, POOL[0]),
        inbound(2, POOL[1]),
        inbound(3, FALLBACK),
        inbound(4, BILLBOARD),
        inbound(5, CLINIC),
        inbound(6, POOL[2]),
        inbound(7, POOL[0], caller="anonymous"),
        inbound(8, POOL[0], direction="outbound"),
    ]
    cards = CardBuilder(sessions, PhoneNormalizer(), lines={}, crm_contact_url=None, first_time_lookback=None)
    shown = {r.pbx_call_id: (await cards.build(ringing(r)))["source"] for r in records}
    await CallPipeline(sessions, sla=timedelta(minutes=15)).record_many(records)
    calls = await stored(sessions)

    live = calls["2.1"]["source"]
    assert (live["kind"], live["session"], live["reasons"], live["ambiguous"]) == (
        "pool",
        "s-live",
        ["lease-active"],
        False,
    )
    assert (live["site"], live["pool"], live["branch"], live["tracking_number"]) == (
        "clinic-main",
        "center",
        "Центр",
        POOL[0],
    )
    assert (live["channel"], live["source"], live["campaign"], live["yclid"]) == (
        "paid",
        "yandex",
        "implants",
        "y-1",
    )
    assert live["confidence"] >= 0.95
    assert calls["2.2"]["source"]["session"] == "s-gone"
    assert calls["2.2"]["source"]["reasons"] == ["lease-expired"]
    assert calls["2.3"]["source"]["session"] == "s-over"
    assert calls["2.3"]["source"]["reasons"] == ["overflow-fallback"]
    assert calls["2.4"]["source"]["kind"] == "static"
    assert calls["2.4"]["source"]["source"] == "billboard"
    assert calls["2.5"]["source"]["reasons"] == ["untracked-number"]
    # The lease that began after the ring is not the caller's.
    assert calls["2.6"]["source"]["reasons"] == ["no-lease-history"]
    assert calls["2.6"]["source"]["session"] is None
    assert calls["2.7"]["source"]["reasons"] == ["lease-active", "caller-hidden"]
    assert calls["2.8"]["source"] is None
    for call_id, source in shown.items():
        assert calls[call_id]["source"] == source, call_id

    async with sessions() as db:
        row = await db.scalar(select(Call).where(Call.pbx_call_id == "2.1"))
        assert row is not None
        assert (row.attr_kind, row.attr_session, row.attr_channel, row.attr_campaign) == (
            "pool",
            "s-live",
            "paid",
            "implants",
        )
        assert (row.attr_site, row.attr_pool, row.attr_tracking_number) == ("clinic-main", "center", POOL[0])
        assert row.attr_confidence == live["confidence"]


async def test_a_live_lease_whose_page_went_quiet_is_no_sure_thing_on_the_card_and_the_record(
    engine: AsyncEngine,
) -> None:
    # The holder's page last heartbeat four minutes before the ring (the lease lives on for the hold);
    # another visitor left the number's page a quarter of an hour before: either may be calling back.
    sessions = make_sessionmaker(engine)
    pool_id = await clinic(sessions)
    async with sessions.begin() as db:
        rows = History(db, pool_id)
        rows.visit("s-left", RING - 30 * MIN, channel="organic", source="google", medium="organic")
        rows.visit("s-quiet", RING - 9 * MIN, source="yandex", medium="cpc", campaign="implants")
        rows.lease("s-left", POOL[2], RING - 30 * MIN, RING - 15 * MIN)
        rows.lease("s-quiet", POOL[2], RING - 9 * MIN, RING + MIN)
    record = inbound(1, POOL[2])
    cards = CardBuilder(sessions, PhoneNormalizer(), lines={}, crm_contact_url=None, first_time_lookback=None)
    shown = (await cards.build(ringing(record)))["source"]
    await CallPipeline(sessions, sla=timedelta(minutes=15)).record(record)
    source = (await stored(sessions))["2.1"]["source"]
    assert (source["session"], source["reasons"], source["ambiguous"]) == ("s-quiet", ["lease-on-hold"], True)
    assert source["confidence"] < 0.7
    assert shown == source


async def test_a_stored_call_keeps_the_source_it_was_given(engine: AsyncEngine) -> None:
    sessions = make_sessionmaker(engine)
    pool_id = await clinic(sessions)
    pipeline = CallPipeline(sessions, sla=timedelta(minutes=15))
    await pipeline.record(inbound(1, POOL[0]))
    first = (await stored(sessions))["2.1"]["source"]
    async with sessions.begin() as db:
        # What is known changes afterwards (a number made static): a refresh does not look again.
        History(db, pool_id).static(POOL[0], source="leaflet")
    await pipeline.record(inbound(1, POOL[0]))
    assert (await stored(sessions))["2.1"]["source"] == first


async def test_a_repeat_caller_goes_back_to_their_session_within_a_batch_and_across_batches(
    engine: AsyncEngine,
) -> None:
    sessions = make_sessionmaker(engine)
    pool_id = await clinic(sessions)
    async with sessions.begin() as db:
        rows = History(db, pool_id)
        rows.visit("s-next", RING + 3 * 60 * MIN, channel="social")
        rows.lease("s-next", POOL[0], RING + 3 * 60 * MIN, RING + 3 * 60 * MIN + 10 * MIN)
    pipeline = CallPipeline(sessions, sla=timedelta(minutes=15))
    later = RING + 3 * 60 * MIN + 5 * MIN
    # The first call during the visit, the second from the saved number while someone else holds it.
    await pipeline.record_many([inbound(1, POOL[0]), inbound(2, POOL[0], at=later)])
    await pipeline.record(inbound(3, POOL[0], at=later + 10 * MIN))
    calls = await stored(sessions)
    assert calls["2.2"]["source"]["session"] == "s-live"
    assert calls["2.2"]["source"]["reasons"] == ["repeat-caller", "lease-active-other"]
    assert calls["2.2"]["source"]["ambiguous"] is True
    # As sure as the first call was, less the doubt that someone else holds the number now.
    assert 0.5 < calls["2.2"]["source"]["confidence"] < calls["2.1"]["source"]["confidence"]
    assert calls["2.3"]["source"]["session"] == "s-live"
    assert calls["2.3"]["source"]["reasons"][0] == "repeat-caller"
    assert 0.3 < calls["2.3"]["source"]["confidence"] < calls["2.1"]["source"]["confidence"]
    # Somebody else on the same number at the same time is not a repeat caller.
    await pipeline.record(inbound(4, POOL[0], caller="+79169999999", at=later))
    assert (await stored(sessions))["2.4"]["source"]["session"] == "s-next"


async def test_a_batch_reads_attribution_with_the_same_few_queries_whatever_its_size(
    engine: AsyncEngine,
) -> None:
    sessions = make_sessionmaker(engine)
    await clinic(sessions)
    pipeline = CallPipeline(sessions, sla=timedelta(minutes=15))
    statements: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # The attribution's reads: what is tracked, and the leases and earlier calls with their sessions.
        if "tracking_numbers" in statement or "visitor_sessions" in statement:
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        await pipeline.record(inbound(1, POOL[0]))
        one = len(statements)
        statements.clear()
        many = [
            inbound(100 + n, POOL[n % 3], caller=f"+7916000{n:04d}", at=RING + n * MIN) for n in range(40)
        ]
        await pipeline.record_many(many)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    assert one == 2
    assert len(statements) == 2
