"""The public endpoints on SQLite and PostgreSQL, as a clinic's page uses them: a session and its numbers,
heartbeats, lease life (unconfirmed leases, expiry, the same number back), overflow to the fallback,
consent, channel pools, quarantine, CORS."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from kolokol.app_keys import SESSIONS
from kolokol.storage.tables import Lease, VisitorSession
from tests.support.clock import Clock
from tests.support.logins import ClientMaker, start_app
from tests.support.tracking_sites import (
    CLINIC,
    ORIGIN,
    SITE,
    TrackingApi,
    pool_numbers,
    site_body,
    tracking_tokens,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
OPEN = {"public_requests_per_minute": 100_000, "unconfirmed_per_address": 0}


@pytest.fixture
async def api(db_url: str, aiohttp_client: ClientMaker) -> TrackingApi:
    clock = Clock(NOW)
    app, client = await start_app(db_url, aiohttp_client, clock, tracking=OPEN)
    return TrackingApi(app, client, await tracking_tokens(app, "marketer", "manager", "operator"), clock)


async def test_a_visitor_gets_a_pool_number_and_keeps_it_while_the_page_heartbeats(api: TrackingApi) -> None:
    await api.put_site(body=site_body(pool_numbers(3)))
    first = await api.open(url="https://clinic.example/?utm_source=yandex&utm_medium=cpc&yclid=123")
    assert first["heartbeat_seconds"] == 30
    shown = first["numbers"][CLINIC]
    assert shown in pool_numbers(3)
    for _ in range(20):  # ten minutes of heartbeats: twice the hold
        api.clock.advance(seconds=30)
        status, beat = await api.heartbeat(first["session"])
        assert (status, beat["numbers"]) == (200, {CLINIC: shown})
    async with api.app[SESSIONS]() as db:
        visitor = await db.get(VisitorSession, first["session"])
        assert visitor is not None
        assert (visitor.channel, visitor.source, visitor.medium, visitor.yclid) == (
            "paid",
            "yandex",
            "cpc",
            "123",
        )
        leases = (await db.scalars(select(Lease).where(Lease.session_id == first["session"]))).all()
    assert len(leases) == 1  # one lease renewed, not many
    assert leases[0].confirmed_at == NOW.replace(second=30)


async def test_live_sessions_get_different_numbers_and_the_pool_overflows_to_the_fallback(
    api: TrackingApi,
) -> None:
    await api.put_site(body=site_body(pool_numbers(2), pools=[
        {"name": "center", "replaces": [CLINIC], "numbers": pool_numbers(2), "fallback": "+74951119999"}
    ]))  # fmt: skip
    shown = [(await api.open())["numbers"][CLINIC] for _ in range(3)]
    assert sorted(shown[:2]) == pool_numbers(2)
    assert shown[2] == "+74951119999"
    async with api.app[SESSIONS]() as db:
        overflows = (await db.scalars(select(Lease).where(Lease.overflow.is_(True)))).all()
    assert [(lease.number, lease.pool_id is not None) for lease in overflows] == [("+74951119999", True)]


async def test_a_pool_without_a_fallback_swaps_nothing_when_full_but_counts_the_overflow(
    api: TrackingApi,
) -> None:
    body = site_body([], pools=[{"name": "center", "replaces": [CLINIC], "numbers": pool_numbers(1)}])
    await api.put_site(body=body)
    assert (await api.open())["numbers"] == {CLINIC: pool_numbers(1)[0]}
    assert (await api.open())["numbers"] == {}
    async with api.app[SESSIONS]() as db:
        assert len((await db.scalars(select(Lease).where(Lease.overflow.is_(True)))).all()) == 1


async def test_a_session_that_never_heartbeats_frees_its_number_after_two_heartbeats(
    api: TrackingApi,
) -> None:
    await api.put_site(body=site_body(pool_numbers(1)))
    bot = await api.open()
    assert bot["numbers"] == {CLINIC: pool_numbers(1)[0]}
    api.clock.advance(seconds=59)
    assert (await api.open())["numbers"] == {}  # still held: the fallback, the clinic's own number
    api.clock.advance(seconds=1)
    assert (await api.open())["numbers"] == {CLINIC: pool_numbers(1)[0]}


async def test_a_lapsed_lease_is_not_revived_but_a_heartbeat_takes_the_same_number_again(
    api: TrackingApi,
) -> None:
    await api.put_site(body=site_body(pool_numbers(2)))
    visitor = await api.open()
    number = visitor["numbers"][CLINIC]
    api.clock.advance(seconds=30)
    await api.heartbeat(visitor["session"])
    api.clock.advance(seconds=400)  # the tab was hidden longer than the hold
    status, beat = await api.heartbeat(visitor["session"])
    assert (status, beat["numbers"]) == (200, {CLINIC: number})
    async with api.app[SESSIONS]() as db:
        leases = (
            await db.scalars(select(Lease).where(Lease.session_id == visitor["session"]).order_by(Lease.id))
        ).all()
    assert [lease.number for lease in leases] == [number, number]
    assert leases[0].ends_at == NOW.replace(minute=5, second=30)  # the first one ended as it was
    assert leases[1].started_at == api.clock.now


async def test_an_expired_session_gets_404_and_a_new_open_resumes_a_live_one(api: TrackingApi) -> None:
    await api.put_site(body=site_body(pool_numbers(3)))
    visitor = await api.open(url="https://clinic.example/?utm_source=vk&utm_medium=cpc")
    api.clock.advance(seconds=20)
    again = await api.open(session=visitor["session"], url="https://clinic.example/prices")  # the next page
    assert again["session"] == visitor["session"] and again["numbers"] == visitor["numbers"]
    api.clock.advance(minutes=31)
    status, answer = await api.heartbeat(visitor["session"])
    assert (status, answer["error"]) == (404, "no-such-session")
    fresh = await api.open(session=visitor["session"])
    assert fresh["session"] != visitor["session"]


async def test_a_new_ad_click_starts_a_new_session(api: TrackingApi) -> None:
    await api.put_site(body=site_body(pool_numbers(3)))
    visitor = await api.open(url="https://clinic.example/?utm_source=yandex&utm_medium=cpc&utm_campaign=a")
    other = await api.open(session=visitor["session"], url="https://clinic.example/?gclid=xyz")
    assert other["session"] != visitor["session"]


async def test_without_consent_nothing_is_stored_and_only_source_numbers_are_shown(api: TrackingApi) -> None:
    body = site_body(
        pool_numbers(2),
        source_numbers=[
            {
                "number": "+74951110090",
                "replaces": [CLINIC],
                "match": {"channel": "paid", "source": "yandex"},
            },
            {"number": "+74951110091", "replaces": [CLINIC], "match": {"channel": "organic"}},
        ],
    )
    await api.put_site(body=body)
    paid = await api.open(
        consent=False, url="https://clinic.example/?utm_source=Yandex&utm_medium=cpc", ga="GA1.2.3.4"
    )
    assert paid == {"session": None, "heartbeat_seconds": 30, "numbers": {CLINIC: "+74951110090"}}
    direct = await api.open(consent=False)
    assert direct["numbers"] == {}
    async with api.app[SESSIONS]() as db:
        assert (await db.scalars(select(VisitorSession))).all() == []
        assert (await db.scalars(select(Lease))).all() == []


async def test_a_channel_pool_leases_only_to_its_channel(api: TrackingApi) -> None:
    body = site_body(
        [],
        pools=[
            {"name": "paid", "channel": "paid", "replaces": [CLINIC], "numbers": pool_numbers(2)},
            {"name": "rest", "replaces": ["+74951110002"], "numbers": pool_numbers(2, first=40)},
        ],
    )
    await api.put_site(body=body)
    paid = await api.open(url="https://clinic.example/?gclid=1")
    assert set(paid["numbers"]) == {CLINIC, "+74951110002"}
    organic = await api.open(referrer="https://yandex.ru/")
    assert set(organic["numbers"]) == {"+74951110002"}


async def test_quarantined_and_retired_numbers_are_never_leased(api: TrackingApi) -> None:
    numbers = pool_numbers(3)
    await api.put_site(body=site_body(numbers))
    status, _ = await api.call(
        "POST", f"/api/tracking/pool-numbers/{numbers[0]}/quarantine", {"reason": "spam"}
    )
    assert status == 200
    await api.put_site(body=site_body(numbers[:2]))  # the third is removed: retired
    shown = [(await api.open())["numbers"].get(CLINIC, "kept") for _ in range(3)]
    assert shown == [numbers[1], "kept", "kept"]


async def test_cors_answers_only_the_sites_origins(api: TrackingApi) -> None:
    await api.put_site(body=site_body(pool_numbers(2)))
    body = {"site": SITE, "session": None, "url": "https://clinic.example/"}
    status, answer, headers = await api.public("/t/v1/session", body)
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    status, answer, headers = await api.public("/t/v1/session", body, origin="https://evil.example")
    assert (status, answer["error"]) == (403, "origin-not-allowed")
    assert "Access-Control-Allow-Origin" not in headers
    # JSON bodies too (a browser preflights them first).
    status, _, headers = await api.public("/t/v1/session", body, content_type="application/json")
    assert status == 200
    for origin, expected in ((ORIGIN, 204), ("https://evil.example", 403), ("null", 403)):
        async with api.client.options(
            "/t/v1/session",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        ) as resp:
            assert resp.status == expected
            assert ("Access-Control-Allow-Origin" in resp.headers) == (expected == 204)
            if expected == 204:
                assert "POST" in resp.headers["Access-Control-Allow-Methods"]
                assert resp.headers["Access-Control-Allow-Headers"].lower() == "content-type"


async def test_a_heartbeats_404_can_be_read_by_the_page(api: TrackingApi) -> None:
    await api.put_site(body=site_body(pool_numbers(2)))
    status, answer, headers = await api.public("/t/v1/heartbeat", {"site": SITE, "session": "x" * 22})
    assert (status, answer["error"]) == (404, "no-such-session")
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
