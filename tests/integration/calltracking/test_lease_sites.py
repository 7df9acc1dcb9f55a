"""The public endpoints keep the sites they read (calltracking.lease_sites); a marketer's change still
reaches them: on SQLite with the very next request, on PostgreSQL within a second."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

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
OTHER_ORIGIN = "https://other.example"
# PostgreSQL keeps a site for a second (lease_sites.POSTGRES_SECONDS): a change shows well within this.
PATIENCE_SECONDS = 15.0


@pytest.fixture
async def api(db_url: str, aiohttp_client: ClientMaker) -> TrackingApi:
    clock = Clock(NOW)
    app, client = await start_app(db_url, aiohttp_client, clock, tracking=OPEN)
    return TrackingApi(app, client, await tracking_tokens(app, "marketer"), clock)


async def _stale_answers(ask: Callable[[], Awaitable[Any]], changed: Callable[[Any], bool]) -> int:
    """Ask until the answer shows the change: how many answers did not yet."""
    stale = 0
    deadline = asyncio.get_running_loop().time() + PATIENCE_SECONDS
    while not changed(answer := await ask()):
        stale += 1
        assert asyncio.get_running_loop().time() < deadline, f"the change never showed: {answer}"
        await asyncio.sleep(0.05)
    return stale


async def test_a_sites_new_settings_reach_the_public_endpoints(api: TrackingApi, db_url: str) -> None:
    numbers = pool_numbers(3)
    await api.put_site(body=site_body(numbers))
    first = await api.open()  # the site is read, and kept
    assert first["heartbeat_seconds"] == 30
    assert first["numbers"][CLINIC] in numbers
    from_other = {"site": SITE, "session": None, "url": f"{OTHER_ORIGIN}/"}

    async def other_origin() -> tuple[int, Any]:
        status, answer, _ = await api.public("/t/v1/session", from_other, origin=OTHER_ORIGIN)
        return status, answer

    assert (await other_origin())[0] == 403

    await api.put_site(body=site_body(numbers, heartbeat_seconds=45, origins=[ORIGIN, OTHER_ORIGIN]))
    stale = [
        await _stale_answers(other_origin, lambda got: got[0] == 200),
        await _stale_answers(api.open, lambda got: got["heartbeat_seconds"] == 45),
    ]
    await api.put_site(body=site_body(numbers, heartbeat_seconds=45))  # the other origin taken out again
    stale.append(await _stale_answers(other_origin, lambda got: got[0] == 403))
    assert (await other_origin())[1]["error"] == "origin-not-allowed"
    if db_url.startswith("sqlite"):
        # SQLite tells of another connection's commit at once (PRAGMA data_version): never a stale answer.
        assert stale == [0, 0, 0]
