"""Attribution measured against the truth: simulated visitors (tests/support/attribution_harness.py) open
sessions and heartbeat through the public endpoints, some call (during the visit, later that day, days
later, again), the calls go through the call pipeline, and each call's source is checked against the
session that showed the visitor the number they dialled. (bench/attribution_accuracy.py runs the same
simulation longer and prints the figures.)"""

from __future__ import annotations

from tests.support.attribution_harness import Results, Traffic, simulate, summary
from tests.support.clock import Clock
from tests.support.logins import ClientMaker, start_app

OPEN = {"public_requests_per_minute": 100_000, "unconfirmed_per_address": 0}
# Short and call-heavy: enough calls of every kind in a few thousand requests.
TRAFFIC = Traffic(
    seed=7,
    days=3,
    hours_per_day=3,
    visits_per_hour=30,
    call_during_visit=0.2,
    call_later_same_day=0.08,
    call_days_later=0.04,
    call_again=0.4,
    saved_days=(1, 2),
    again_days=(1, 2),
)


async def run(db_url: str, aiohttp_client: ClientMaker, pool_size: int) -> tuple[Results, str]:
    clock = Clock()
    app, client = await start_app(db_url, aiohttp_client, clock, tracking=OPEN)
    results = await simulate(app, client, clock, TRAFFIC, pool_size)
    return results, "\n".join(summary(results))


async def test_at_a_generous_pool_size_calls_during_the_visit_are_all_right_and_every_call_is_scored(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    results, report = await run(db_url, aiohttp_client, 2 * TRAFFIC.recommended_pool())
    assert not results.refused, report
    assert results.overflows == 0, report
    assert min(results.count(kind) for kind in ("visit", "late", "saved", "repeat")) >= 3, report
    for outcome in results.outcomes:
        assert outcome.source["kind"] == "pool"
        assert 0.0 <= outcome.source["confidence"] <= 1.0
        assert outcome.source["reasons"], outcome
    # While the page is open, the pool's number says who called.
    assert results.accuracy("visit") == 1.0, report
    # A caller calling again from the number they dialled before gets their first call's session.
    for outcome in results.outcomes:
        if outcome.kind == "repeat":
            assert outcome.first is not None
            assert outcome.source["session"] == outcome.first.source["session"], report
            assert outcome.source["reasons"][0] == "repeat-caller", report
    # The confidence means something: sure calls are right more often than unsure ones, which are flagged.
    sure = [o for o in results.outcomes if o.source["confidence"] >= 0.9]
    unsure = [o for o in results.outcomes if o.source["confidence"] < 0.5]
    assert sure and unsure, report
    assert sum(o.right for o in sure) / len(sure) > sum(o.right for o in unsure) / len(unsure), report
    assert all(o.source["ambiguous"] for o in unsure), report
    # And it beats claiming every call for sure.
    assert results.brier() < 1 - results.accuracy(), report
    # A late caller's session is often beyond knowing, but the campaign most visitors who left shared
    # is the guess: a report by source is right more often than the session.
    assert results.source_accuracy("late") > results.accuracy("late"), report
    # Calls not flagged are the ones to trust: right more often than calls overall.
    assert results.sure_accuracy() > results.accuracy(), report


async def test_an_undersized_pool_overflows_and_attribution_says_which_calls_are_unsure(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    results, report = await run(db_url, aiohttp_client, max(1, TRAFFIC.recommended_pool() // 3))
    assert not results.refused, report
    assert results.overflows > 0, report
    fallback_calls = [o for o in results.outcomes if o.source["reasons"][0] == "overflow-fallback"]
    assert fallback_calls, report
    assert any(o.source["ambiguous"] for o in fallback_calls), report
    # A call on a pool number during the visit is still right.
    on_the_pool = [
        o for o in results.outcomes if o.kind == "visit" and o.source["reasons"][0] == "lease-active"
    ]
    assert on_the_pool, report
    assert all(o.right for o in on_the_pool), report
