"""The caller card and the call record say the same source: a cloud PBX's signed webhooks (the generic
format) ring a pool number, the operator's console gets the card over the real feed, and the record the
intake builds when the call ends carries the very same `source`."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from websockets.asyncio.client import connect

from kolokol.app_keys import CLOCK, FEED, FEED_SECRET, INTAKE, LIVE, SESSIONS
from softphone_ws import feed_tokens
from tests.support.feed_clients import WAIT, everything_so_far, receive
from tests.support.providers.generic import CALLER, ev
from tests.support.tracking_history import History
from tests.support.webhooks import ClientMaker, Hook, make_hook

SECRET = "generic-test-secret-0123456789"
TOKEN = "u" * 8 + "0123456789abcdef0123456789abcdef"
RING = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
POOL = ["+74951110021", "+74951110022"]
MIN = timedelta(minutes=1)


def call_to(call_id: str, number: str) -> list[dict[str, Any]]:
    return [
        ev(call_id, 1, "call.started", "00:00", direction="inbound", **{"from": CALLER, "to": number}),
        ev(call_id, 2, "call.ringing", "00:05", extension="101"),
        ev(call_id, 3, "call.answered", "00:10", extension="101"),
        ev(call_id, 4, "call.ended", "01:00", direction="inbound", **{"from": CALLER, "to": number}),
    ]


async def deliver(hook: Hook, events: list[dict[str, Any]]) -> None:
    for event in events:
        body = json.dumps(event).encode()
        stamp = str(int(time.time()))
        mac = hmac.new(SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers = {"X-Kolokol-Timestamp": stamp, "X-Kolokol-Signature": f"sha256={mac}"}
        status, reply = await hook.send(
            "POST", "/", body=body, content_type="application/json", headers=headers
        )
        assert status == 200, reply
    await hook.app[INTAKE].settle()
    await hook.app[LIVE].drain()


async def test_the_card_at_the_ring_and_the_record_carry_the_same_source(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    hook = await make_hook(aiohttp_client, db_url, "generic", {"secret": SECRET, "url_token": TOKEN})
    async with hook.app[SESSIONS].begin() as db:
        rows = History(db)
        await rows.site(POOL)
        rows.visit("s-live", RING - 5 * MIN, source="yandex", medium="cpc", campaign="implants")
        rows.lease("s-live", POOL[0], RING - 5 * MIN, RING + 10 * MIN)
        rows.visit("s-gone", RING - 60 * MIN, channel="organic", source="google", medium="organic")
        rows.lease("s-gone", POOL[1], RING - 60 * MIN, RING - 20 * MIN)
    token = feed_tokens.issue(
        hook.app[FEED_SECRET], subject="anna", role="operator", extensions=("101",), now=hook.app[CLOCK]()
    )
    cards: dict[str, Any] = {}
    async with connect(f"ws://127.0.0.1:{hook.app[FEED].port}/?token={token}", open_timeout=WAIT) as console:
        await console.send(json.dumps({"type": "subscribe", "extensions": ["101"]}))
        assert (await receive(console))["type"] == "subscribed"
        for call_id, number in (("live", POOL[0]), ("gone", POOL[1])):
            await deliver(hook, call_to(call_id, number))
            messages = await everything_so_far(console)
            [ringing] = [m for m in messages if m["type"] == "call.ringing"]
            cards[call_id] = ringing["card"]["source"]
    records = {r["pbx_call_id"]: r["source"] for r in await hook.calls()}
    assert cards["live"]["session"] == "s-live"
    assert cards["live"]["reasons"] == ["lease-active"]
    assert (cards["live"]["campaign"], cards["live"]["tracking_number"]) == ("implants", POOL[0])
    assert cards["gone"]["session"] == "s-gone"
    assert cards["gone"]["reasons"] == ["lease-expired"]
    assert records == cards
