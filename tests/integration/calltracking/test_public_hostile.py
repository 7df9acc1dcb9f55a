"""The public endpoints against what the Internet sends: unknown sites, forged sessions, huge and broken
bodies, script in utm values and referrers (kept as plain data), floods (429, and the pool is not
drained), X-Forwarded-For from anyone but a trusted proxy. Never a 500; a refusal changes nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from kolokol.app_keys import SESSIONS
from kolokol.storage.tables import Lease, VisitorSession
from tests.support.clock import Clock
from tests.support.logins import ClientMaker, start_app
from tests.support.tracking_sites import (
    CLINIC,
    SITE,
    TrackingApi,
    pool_numbers,
    site_body,
    tracking_tokens,
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


async def _api(db_url: str, aiohttp_client: ClientMaker, **tracking: Any) -> TrackingApi:
    clock = Clock(NOW)
    app, client = await start_app(db_url, aiohttp_client, clock, tracking=tracking)
    api = TrackingApi(app, client, await tracking_tokens(app, "marketer"), clock)
    await api.put_site(body=site_body(pool_numbers(5)))
    return api


@pytest.fixture
async def api(db_url: str, aiohttp_client: ClientMaker) -> TrackingApi:
    return await _api(db_url, aiohttp_client, public_requests_per_minute=100_000, unconfirmed_per_address=0)


async def _stored(api: TrackingApi) -> tuple[int, int]:
    async with api.app[SESSIONS]() as db:
        sessions = await db.scalar(select(func.count()).select_from(VisitorSession))
        leases = await db.scalar(select(func.count()).select_from(Lease))
    return sessions or 0, leases or 0


@pytest.mark.parametrize(
    ("body", "status", "slug"),
    [
        ({"site": "nowhere", "session": None}, 404, "no-such-site"),
        ({"site": "../../etc/passwd"}, 404, "no-such-site"),
        ({"site": "x" * 65}, 400, "invalid-field"),
        ({"site": 5}, 400, "invalid-field"),
        ({"session": None}, 400, "invalid-field"),
        ({"site": SITE, "url": "https://clinic.example/?q=" + "a" * 9000}, 400, "invalid-field"),
        ({"site": SITE, "referrer": "https://x.example/" + "a" * 5000}, 400, "invalid-field"),
        ({"site": SITE, "url": ["https://clinic.example/"]}, 400, "invalid-field"),
        ({"site": SITE, "session": {"$ne": None}}, 400, "invalid-field"),
        ({"site": SITE, "session": "s" * 65}, 400, "invalid-field"),
        ({"site": SITE, "consent": "no"}, 400, "invalid-field"),
        ({"site": SITE, "ga": "G" * 201}, 400, "invalid-field"),
        ([SITE], 400, "invalid-json"),
        ("just text", 400, "invalid-json"),
    ],
)
async def test_unusable_opens_get_a_slug_and_store_nothing(
    api: TrackingApi, body: Any, status: int, slug: str
) -> None:
    got, answer, _ = await api.public("/t/v1/session", body)
    assert (got, answer["error"]) == (status, slug)
    assert await _stored(api) == (0, 0)


@pytest.mark.parametrize(
    "raw",
    [
        b"{not json",
        b'{"site": "clinic-main", "url": "\\ud800"}',
        b'{"site": "clinic-main", "url": "a\\u0000b"}',
        b'{"site": "clinic-main", "n": NaN}',
        b'{"site": "clinic-main", "n": 1' + b"0" * 100 + b"}",
        b"[" * 5_000 + b"]" * 5_000,
        b"\xff\xfe{}",
        b"",
    ],
)
async def test_broken_bodies_get_400(api: TrackingApi, raw: bytes) -> None:
    status, answer, _ = await api.public("/t/v1/session", raw)
    assert status == 400, answer
    assert answer["error"] in ("invalid-json", "invalid-field")
    assert await _stored(api) == (0, 0)


async def test_bodies_over_16_kb_and_other_content_types_are_refused(api: TrackingApi) -> None:
    status, answer, _ = await api.public("/t/v1/session", {"site": SITE, "pad": "x" * 20_000})
    assert (status, answer["error"]) == (413, "body-too-large")
    status, answer, _ = await api.public("/t/v1/session", {"site": SITE}, content_type="multipart/form-data")
    assert (status, answer["error"]) == (415, "unsupported-media-type")


@pytest.mark.parametrize(
    "session",
    ["x" * 22, "' OR 1=1 --", "../../../../", "Ж" * 20, "", "AAAAAAAAAAAAAAAAAAAAAA"],
)
async def test_forged_sessions_get_404_on_heartbeat(api: TrackingApi, session: str) -> None:
    status, answer = await api.heartbeat(session)
    assert (status, answer["error"]) == (404, "no-such-session")
    assert await _stored(api) == (0, 0)


async def test_a_forged_session_on_open_starts_a_new_one(api: TrackingApi) -> None:
    opened = await api.open(session="' OR 1=1 --")
    assert opened["session"] != "' OR 1=1 --"
    assert opened["numbers"][CLINIC] in pool_numbers(5)


async def test_a_session_of_another_site_is_no_session_here(api: TrackingApi) -> None:
    await api.put_site("other", site_body(pool_numbers(2, first=40), origins=["https://clinic.example"]))
    status, answer, _ = await api.public("/t/v1/session", {"site": "other", "url": "https://clinic.example/"})
    assert status == 200
    status, beat = await api.heartbeat(answer["session"])  # sent as the clinic-main site
    assert (status, beat["error"]) == (404, "no-such-session")


async def test_script_in_utm_values_and_referrer_is_stored_as_plain_data(api: TrackingApi) -> None:
    script = '"><script>alert(document.cookie)</script>'
    url = "https://clinic.example/?utm_source=x&utm_medium=cpc&utm_campaign=%22%3E%3Cscript%3Ealert(document.cookie)%3C%2Fscript%3E"
    referrer = "https://evil.example/?<img src=x onerror=alert(1)>"
    opened = await api.open(url=url, referrer=referrer, ga="<script>", ym="1;DROP TABLE leases")
    async with api.app[SESSIONS]() as db:
        visitor = await db.get(VisitorSession, opened["session"])
    assert visitor is not None
    assert visitor.campaign == script
    assert visitor.referrer == referrer
    assert (visitor.ga_client_id, visitor.ym_client_id) == (None, None)  # not ids: not kept


async def test_huge_utm_values_are_cut_to_their_columns(api: TrackingApi) -> None:
    url = "https://clinic.example/?utm_medium=cpc&utm_source=" + "я" * 1500
    opened = await api.open(url=url)
    async with api.app[SESSIONS]() as db:
        visitor = await db.get(VisitorSession, opened["session"])
    assert visitor is not None and visitor.source is not None
    assert len(visitor.source) == 200 and visitor.source.endswith("…")


async def test_a_flood_from_one_address_gets_429_and_leaves_the_pool_to_others(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    api = await _api(
        db_url,
        aiohttp_client,
        public_requests_per_minute=60,
        unconfirmed_per_address=2,
        trusted_proxies=["127.0.0.1"],
    )
    bot = {"X-Forwarded-For": "203.0.113.9"}
    answers = []
    for _ in range(40):
        status, answer, headers = await api.public(
            "/t/v1/session", {"site": SITE, "url": "https://clinic.example/"}, headers=bot
        )
        answers.append((status, answer, headers))
    statuses = [status for status, _, _ in answers]
    assert statuses.count(200) == 2  # then the bot's sessions that never heartbeat stop it
    assert set(statuses) == {200, 429}
    slugs = {answer["error"] for status, answer, _ in answers if status == 429}
    assert slugs == {"too-many-sessions", "rate-limited"}
    assert all(int(headers["Retry-After"]) >= 1 for status, _, headers in answers if status == 429)

    # Visitors from other addresses still get pool numbers.
    for n in range(3):
        status, answer, _ = await api.public(
            "/t/v1/session",
            {"site": SITE, "url": "https://clinic.example/"},
            headers={"X-Forwarded-For": f"198.51.100.{n}"},
        )
        assert status == 200
        assert answer["numbers"][CLINIC] in pool_numbers(5)

    # The bot's numbers come free once its unconfirmed leases run out (2 heartbeats).
    api.clock.advance(seconds=60)
    async with api.app[SESSIONS]() as db:
        live = await db.scalar(select(func.count()).select_from(Lease).where(Lease.ends_at > api.clock.now))
    assert live == 0


async def test_opens_at_once_from_one_address_do_not_pass_its_session_limit(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    api = await _api(
        db_url,
        aiohttp_client,
        public_requests_per_minute=100_000,
        unconfirmed_per_address=2,
        trusted_proxies=["127.0.0.1"],
    )
    bot = {"X-Forwarded-For": "203.0.113.10"}
    opens = [
        api.public("/t/v1/session", {"site": SITE, "url": "https://clinic.example/"}, headers=bot)
        for _ in range(24)
    ]
    statuses = [status for status, _, _ in await asyncio.gather(*opens)]
    # On PostgreSQL several transactions open sessions side by side: each counts the address's
    # sessions only once the one before it has committed its own.
    assert statuses.count(200) == 2
    assert set(statuses) == {200, 429}


async def test_x_forwarded_for_is_believed_only_from_a_trusted_proxy(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    api = await _api(db_url, aiohttp_client, public_requests_per_minute=60, unconfirmed_per_address=0)
    statuses = []
    for n in range(40):
        status, _, _ = await api.public(
            "/t/v1/heartbeat",
            {"site": SITE, "session": "x" * 22},
            headers={"X-Forwarded-For": f"198.51.100.{n}"},
        )
        statuses.append(status)
    assert 429 in statuses  # every request counted against the one real peer


async def test_a_flood_of_preflights_is_limited_too(db_url: str, aiohttp_client: ClientMaker) -> None:
    api = await _api(db_url, aiohttp_client, public_requests_per_minute=60, unconfirmed_per_address=0)
    statuses = []
    for _ in range(30):
        async with api.client.options(
            "/t/v1/session",
            headers={"Origin": "https://clinic.example", "Access-Control-Request-Method": "POST"},
        ) as resp:
            statuses.append(resp.status)
            if resp.status == 429:
                assert int(resp.headers["Retry-After"]) >= 1
    assert statuses[0] == 204 and statuses[-1] == 429
