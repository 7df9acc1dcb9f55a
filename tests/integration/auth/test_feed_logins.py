"""Ending a login ends its feed: logout, `kolokol user disable` (another process), a password, role or
phones change, an idle login, a revoked or expired API token — on one node or another (issue 9, part 10).

Found against a running kolokol: after logout or disable the open websocket kept receiving rings 25 s
later. The feed re-checks its connections' logins every `feed.login_check_seconds` (here 50 ms; the
tests wait for the close, they never time it).
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from websockets.asyncio.client import ClientConnection, connect

from kolokol.app import make_app
from kolokol.app_keys import CLOCK, SESSIONS
from kolokol.app_keys import FEED as FEED_KEY
from kolokol.auth.tokens import issue_token
from kolokol.auth.users import set_extensions, set_password, set_role
from kolokol.settings import Settings
from softphone_ws.close_codes import FeedClose
from tests.support.environment import kolokol_environment
from tests.support.feed_server import WAIT, close_code, receive
from tests.support.logins import Client, ClientMaker, Clock, add_user, log_in, start_app
from tests.support.paths import REPO

SECRET = "feed-token-secret-shared-by-every-node-0123456789"
FEED = {"login_check_seconds": 0.05, "token_secret": SECRET}


async def started(db_url: str, aiohttp_client: ClientMaker) -> tuple[web.Application, Client, Clock]:
    # The feed checks token expiry with the real clock, so the app's clock starts at the real now.
    clock = Clock(datetime.now(UTC))
    app, client = await start_app(db_url, aiohttp_client, clock, feed=FEED)
    return app, client, clock


async def feed_url(client: Client, csrf: str | None = None, bearer: str | None = None) -> str:
    headers = {"X-CSRF-Token": csrf} if csrf else {"Authorization": f"Bearer {bearer}"}
    async with client.post("/api/feed/token", headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        url: str = (await resp.json())["url"]
    return url


async def open_feed(url: str, **subscription: Any) -> ClientConnection:
    feed = await connect(url, open_timeout=WAIT)
    await feed.send(json.dumps({"type": "subscribe", **(subscription or {"extensions": ["101"]})}))
    assert (await receive(feed))["type"] == "subscribed"
    return feed


async def refused_with(url: str) -> int:
    async with connect(url, open_timeout=WAIT) as feed:
        return await close_code(feed)


async def kolokol_cli(db_url: str, *args: str) -> str:
    """The real command, in its own process (as an administrator runs it beside `kolokol serve`)."""
    env = kolokol_environment(KOLOKOL_DATABASE__URL=db_url)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "kolokol",
        *args,
        env=env,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(60):
        out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def test_logout_closes_the_feed_and_a_token_minted_before_it_no_longer_connects(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    app, client, _ = await started(db_url, aiohttp_client)
    await add_user(app, "anna", "operator", extensions=("101",))
    csrf = await log_in(client, "anna")
    feed = await open_feed(await feed_url(client, csrf))
    spare = await feed_url(client, csrf)

    async with client.post("/logout", headers={"X-CSRF-Token": csrf}, allow_redirects=False) as resp:
        assert resp.status == 303

    assert await close_code(feed) == FeedClose.LOGIN_ENDED
    assert await refused_with(spare) == FeedClose.LOGIN_ENDED


async def test_disabling_a_user_from_the_command_line_closes_their_feed(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    app, client, _ = await started(db_url, aiohttp_client)
    await add_user(app, "anna", "operator", extensions=("101",))
    await add_user(app, "boris", "operator", extensions=("101",))
    anna = await open_feed(await feed_url(client, await log_in(client, "anna")))
    client.session.cookie_jar.clear()
    boris = await open_feed(await feed_url(client, await log_in(client, "boris")))

    await kolokol_cli(db_url, "user", "disable", "anna")

    assert await close_code(anna) == FeedClose.LOGIN_ENDED
    # Boris is still there: a ping round trip after Anna's close proves his connection was left alone.
    await boris.send('{"type":"ping"}')
    assert await receive(boris) == {"type": "pong"}
    await boris.close()


async def test_a_password_change_ends_the_feed(db_url: str, aiohttp_client: ClientMaker) -> None:
    app, client, clock = await started(db_url, aiohttp_client)
    await add_user(app, "anna", "operator", extensions=("101",))
    feed = await open_feed(await feed_url(client, await log_in(client, "anna")))
    await set_password(app[SESSIONS], "anna", "a brand new password", now=clock())
    assert await close_code(feed) == FeedClose.LOGIN_ENDED


async def test_a_role_or_phones_change_closes_the_feed_and_a_new_token_carries_the_new_grant(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    app, client, clock = await started(db_url, aiohttp_client)
    await add_user(app, "anna", "operator", extensions=("101", "102"))
    csrf = await log_in(client, "anna")
    feed = await open_feed(await feed_url(client, csrf))

    await set_extensions(app[SESSIONS], "anna", ["102"], now=clock())
    assert await close_code(feed) == FeedClose.GRANT_CHANGED
    feed = await open_feed(await feed_url(client, csrf), extensions=["102"])

    await set_role(app[SESSIONS], "anna", "manager", now=clock())
    assert await close_code(feed) == FeedClose.GRANT_CHANGED
    # Still logged in: the console fetches a token for the new role and sees everything.
    feed = await open_feed(await feed_url(client, csrf), all=True)
    await feed.close()


async def test_a_login_that_ends_by_being_idle_ends_its_feed(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    app, client, clock = await started(db_url, aiohttp_client)
    await add_user(app, "anna", "operator", extensions=("101",))
    feed = await open_feed(await feed_url(client, await log_in(client, "anna")))
    clock.advance(minutes=12 * 60 + 1)  # web.session_idle_minutes: no request since
    assert await close_code(feed) == FeedClose.LOGIN_ENDED


async def test_revoking_an_api_token_from_the_command_line_closes_its_feed(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    app, client, clock = await started(db_url, aiohttp_client)
    async with app[SESSIONS].begin() as session:
        crm = await issue_token(session, name="Ольга", role="manager", now=clock())
        other = await issue_token(session, name="Board", role="manager", now=clock())
    feed = await open_feed(await feed_url(client, bearer=crm.secret), all=True)
    board = await open_feed(await feed_url(client, bearer=other.secret), all=True)

    output = await kolokol_cli(db_url, "token", "revoke", crm.id[:8])

    assert crm.id in output
    assert await close_code(feed) == FeedClose.LOGIN_ENDED
    await board.send('{"type":"ping"}')
    assert await receive(board) == {"type": "pong"}
    await board.close()


async def test_an_api_token_that_expires_ends_its_feed_and_its_requests(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    app, client, clock = await started(db_url, aiohttp_client)
    async with app[SESSIONS].begin() as session:
        made = await issue_token(
            session, name="wallboard", role="manager", now=clock(), expires_at=clock() + timedelta(hours=1)
        )
    feed = await open_feed(await feed_url(client, bearer=made.secret), all=True)

    clock.advance(hours=1)

    assert await close_code(feed) == FeedClose.LOGIN_ENDED
    async with client.get("/api/me", headers={"Authorization": f"Bearer {made.secret}"}) as resp:
        body = await resp.json()
    assert (resp.status, body["error"]) == (401, "invalid-token")
    assert "expired" in body["message"]


async def test_a_logout_on_one_node_closes_the_feed_held_by_another(
    db_url: str, aiohttp_client: ClientMaker
) -> None:
    """Two `kolokol serve` nodes on one database: the console's HTTP goes to A, its feed to B."""
    node_a, client_a, clock = await started(db_url, aiohttp_client)
    node_b = make_app(Settings.model_validate({"database": {"url": db_url}, "feed": {"port": 0, **FEED}}))
    node_b[CLOCK] = clock
    client_b = await aiohttp_client(node_b)
    await add_user(node_a, "anna", "operator", extensions=("101",))
    csrf = await log_in(client_a, "anna")
    url_a = await feed_url(client_a, csrf)
    # The same token, presented to node B's feed port (a load balancer may send it anywhere).
    token = url_a.split("?token=", 1)[1]
    async with client_b.get("/healthz") as resp:
        assert resp.status == 200
    feed = await open_feed(f"ws://127.0.0.1:{node_b[FEED_KEY].port}/?token={token}")

    async with client_a.post("/logout", headers={"X-CSRF-Token": csrf}, allow_redirects=False) as resp:
        assert resp.status == 303

    assert await close_code(feed) == FeedClose.LOGIN_ENDED
