"""What the snippet's browser tests share: the clinic's numbers, a page with the snippet's tag, what
the test watches in a page, and the site set up in kolokol through the REST API as a marketer would."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp
from sqlalchemy import select

from kolokol.app_keys import SESSIONS
from kolokol.auth.tokens import create_token
from kolokol.storage.tables import VisitorSession
from tests.browser.server import Kolokol

if TYPE_CHECKING:
    from playwright.sync_api import Page

SITE = "clinic-main"
CLINIC = "+74951110001"
POOL = ("+74951110020", "+74951110021", "+74951110022")
OFFLINE_NUMBER = "+74951110099"  # shown by source alone to visitors who did not consent
CLOCK_START = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
GA = "GA1.1.1234567890.1700000000"
YM = "1700000000123456789"

# Every event the snippet dispatches, kept for the test; every request it starts, noted when it starts
# (a fetch that was never made is then certain, with no waiting); and every answer it has finished
# handling (counted a task after its body was read: the snippet's promise handlers have run by then,
# its next heartbeat is scheduled). MessageChannel, not setTimeout: Playwright's clock holds timers.
WATCH = """
window.kkEvents = [];
document.addEventListener("kolokol", function (e) { window.kkEvents.push(e.detail); });
window.kkPosts = [];
window.kkHandled = 0;
(function (fetch) {
  function handled() {
    var channel = new MessageChannel();
    channel.port1.onmessage = function () { window.kkHandled++; };
    channel.port2.postMessage(0);
  }
  window.fetch = function (url) {
    window.kkPosts.push(String(url));
    return fetch.apply(this, arguments).then(function (response) {
      var json = response.json;
      response.json = function () {
        var body = json.apply(response);
        body.then(handled, handled);
        return body;
      };
      return response;
    });
  };
})(window.fetch);
Object.defineProperty(Document.prototype, "hidden", {
  configurable: true, get: function () { return !!window.kkHidden; }
});
Object.defineProperty(Document.prototype, "visibilityState", {
  configurable: true, get: function () { return window.kkHidden ? "hidden" : "visible"; }
});
"""


def page_html(body: str, *, tag: str = "", src: str = "/kk/t/v1/snippet.js", head: str = "") -> str:
    return (
        '<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>Клиника</title>'
        f'<link rel="icon" href="data:,">{head}'
        f'<script src="{src}" data-site="{SITE}" {tag} async></script></head><body>{body}</body></html>'
    )


def respelled(written: str, number: str) -> str:
    """`written` (a spelling of a Moscow number: its 10 national digits, after a 7 or 8 or not) with
    `number`'s national digits in their places: the page's own prefix and punctuation kept."""
    national = iter(number[2:])
    skip = sum(c.isdigit() for c in written) - 10
    out = []
    for c in written:
        if c.isdigit() and skip > 0:
            skip -= 1
            out.append(c)
        else:
            out.append(next(national) if c.isdigit() else c)
    return "".join(out)


def put_site(kolokol: Kolokol, origins: list[str], **overrides: Any) -> None:
    body = {
        "origins": origins,
        "hold_seconds": 300,
        "heartbeat_seconds": 30,
        "pools": [{"name": "center", "replaces": [CLINIC], "numbers": list(POOL)}],
        "source_numbers": [{"number": OFFLINE_NUMBER, "replaces": [CLINIC], "match": {"channel": "direct"}}],
        **overrides,
    }

    async def put() -> int:
        async with kolokol.app[SESSIONS].begin() as session:
            token = await create_token(session, name="marketing", role="marketer")
        async with (
            aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as client,
            client.put(kolokol.url(f"/api/tracking/sites/{SITE}"), json=body) as answer,
        ):
            return answer.status

    assert kolokol.run(put()) in (200, 201)


def sessions_stored(kolokol: Kolokol) -> list[VisitorSession]:
    async def read() -> list[VisitorSession]:
        async with kolokol.app[SESSIONS]() as session:
            return list(await session.scalars(select(VisitorSession)))

    return kolokol.run(read())


def answered(page: Page, count: int = 1) -> dict[str, Any]:
    """The snippet's `count`-th event (it answers once per session opened and on every change)."""
    page.wait_for_function(f"window.kkEvents.length >= {count}")
    detail = page.evaluate(f"window.kkEvents[{count - 1}]")
    assert isinstance(detail, dict)
    return detail
