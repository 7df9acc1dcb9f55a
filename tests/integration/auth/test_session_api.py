"""The console's own requests: the REST API with the login cookie (CSRF on changes), API tokens next to
it, GET /api/me, and what pages learn about their visitor. Real HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web

from kolokol.app_keys import SESSIONS, SETTINGS
from kolokol.auth.page_guard import csrf_token, page_language, page_principal, remember_language
from kolokol.auth.tokens import create_token
from kolokol.auth.users import set_role
from kolokol.calls.wiring import make_pipeline
from kolokol.http.security import CONTENT_SECURITY_POLICY
from tests.support.call_records import missed
from tests.support.logins import (
    Client,
    ClientMaker,
    Clock,
    add_user,
    log_in,
    post_login,
    set_cookies,
    start_app,
)

SUPERVISORS = frozenset({"manager", "admin"})


async def supervisor_test_page(request: web.Request) -> web.Response:
    principal = await page_principal(request, SUPERVISORS)
    text = f"{principal.name}|{csrf_token(request)}|{page_language(request)}"
    response = web.Response(text=text, content_type="text/html")
    remember_language(request, response)
    return response


def add_test_page(app: web.Application) -> None:
    app.router.add_get("/test/supervisor", supervisor_test_page)


class Site:
    def __init__(self, app: web.Application, client: Client, clock: Clock, crm_token: str) -> None:
        self.app, self.client, self.clock, self.crm_token = app, client, clock, crm_token

    async def open_task_id(self) -> str:
        async with self.client.get("/api/tasks", params={"status": "open"}) as resp:
            assert resp.status == 200
            task_id: str = (await resp.json())["items"][0]["id"]
        return task_id

    async def task_assignee(self, task_id: str) -> str | None:
        headers = {"Authorization": f"Bearer {self.crm_token}"}
        async with self.client.get(f"/api/tasks/{task_id}", headers=headers) as resp:
            assignee: str | None = (await resp.json())["assignee"]
        return assignee


@pytest.fixture
async def site(db_url: str, aiohttp_client: ClientMaker) -> Site:
    clock = Clock()
    app, client = await start_app(db_url, aiohttp_client, clock, setup=add_test_page)
    await add_user(app, "anna", "operator", extensions=("101",))
    await add_user(app, "olga", "manager", language="en", display_name="Ольга")
    await add_user(app, "mark", "marketer")
    await make_pipeline(app[SETTINGS], app[SESSIONS]).record(missed(1, "+79161234567"))
    async with app[SESSIONS].begin() as session:
        token = await create_token(session, name="crm", role="integration")
    return Site(app, client, clock, token)


@pytest.mark.parametrize("sent", [None, "", "forged-token"])
async def test_a_change_made_with_the_cookie_needs_the_csrf_token(site: Site, sent: str | None) -> None:
    await log_in(site.client, "anna")
    task_id = await site.open_task_id()
    headers = {} if sent is None else {"X-CSRF-Token": sent}
    async with site.client.post(f"/api/tasks/{task_id}/assign", json={}, headers=headers) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"] == "csrf-failed"
    assert await site.task_assignee(task_id) is None, "a refused request changes nothing"


async def test_with_the_csrf_token_the_operator_takes_the_task(site: Site) -> None:
    csrf = await log_in(site.client, "anna")
    task_id = await site.open_task_id()
    async with site.client.post(
        f"/api/tasks/{task_id}/assign", json={}, headers={"X-CSRF-Token": csrf}
    ) as resp:
        assert resp.status == 200
    assert await site.task_assignee(task_id) == "anna", "the default assignee is the logged-in user"


async def test_api_tokens_need_no_csrf_token_even_beside_a_login_cookie(site: Site) -> None:
    await log_in(site.client, "anna")
    task_id = await site.open_task_id()
    headers = {"Authorization": f"Bearer {site.crm_token}"}
    async with site.client.post(f"/api/tasks/{task_id}/assign", json={}, headers=headers) as resp:
        assert resp.status == 200
    assert await site.task_assignee(task_id) == "crm"
    async with site.client.get("/api/me", headers=headers) as resp:
        me = await resp.json()
    assert me == {
        "username": "crm",
        "display_name": "crm",
        "role": "integration",
        "extensions": [],
        "language": None,
        "via": "token",
        "csrf_token": None,
        "click_to_call": False,
    }


async def test_me_answers_every_role_and_roles_still_limit_the_api(site: Site) -> None:
    await log_in(site.client, "mark")
    async with site.client.get("/api/me") as resp:
        assert (await resp.json())["role"] == "marketer"
    async with site.client.get("/api/calls") as resp:
        assert resp.status == 200
    async with site.client.get("/api/tasks") as resp:
        assert (resp.status, (await resp.json())["error"]) == (403, "forbidden")


async def test_without_a_login_the_api_says_401(site: Site) -> None:
    async with site.client.get("/api/me") as resp:
        assert (resp.status, (await resp.json())["error"]) == (401, "unauthenticated")
    async with site.client.get("/api/me", cookies={"kolokol_session": "made-up"}) as resp:
        body = await resp.json()
    assert (resp.status, body["error"]) == (401, "unauthenticated") and "log in again" in body["message"]


async def test_a_role_change_applies_to_an_open_session(site: Site) -> None:
    await log_in(site.client, "mark")
    await set_role(site.app[SESSIONS], "mark", "operator", now=site.clock())
    async with site.client.get("/api/tasks") as resp:
        assert resp.status == 200


async def test_a_page_sends_strangers_to_the_login_and_back(site: Site) -> None:
    async with site.client.get("/test/supervisor?tab=1", allow_redirects=False) as resp:
        assert resp.status == 303
        location = resp.headers["Location"]
    parts = urlsplit(location)
    assert parts.path == "/login" and parse_qs(parts.query) == {"next": ["/test/supervisor?tab=1"]}
    status, _, headers = await post_login(site.client, "olga", next_path=parse_qs(parts.query)["next"][0])
    assert (status, headers["Location"]) == (303, "/test/supervisor?tab=1")


async def test_a_page_knows_the_user_their_csrf_token_and_language(site: Site) -> None:
    csrf = await log_in(site.client, "olga")
    async with site.client.get("/test/supervisor") as resp:
        assert resp.status == 200
        assert await resp.text() == f"olga|{csrf}|en", "the user's own language"
        assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    async with site.client.get("/test/supervisor", params={"lang": "ru"}) as resp:
        assert (await resp.text()).endswith("|ru")
        assert set_cookies(resp.headers)["kolokol_lang"].value == "ru"
    async with site.client.get("/test/supervisor") as resp:
        assert (await resp.text()).endswith("|ru"), "a choice made on a page beats the stored language"


async def test_a_page_refuses_the_wrong_role_with_an_html_page(site: Site) -> None:
    await log_in(site.client, "anna")
    async with site.client.get("/test/supervisor", allow_redirects=False) as resp:
        assert resp.status == 403
        assert resp.content_type == "text/html"
        page = await resp.text()
        assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
        assert resp.headers["Cache-Control"] == "no-store"
    assert "Нет доступа" in page and 'action="/logout"' in page and 'href="/console"' in page


async def test_an_ended_session_is_sent_to_the_login_with_its_cookie_cleared(site: Site) -> None:
    await log_in(site.client, "olga")
    site.clock.advance(hours=25)
    async with site.client.get("/test/supervisor", allow_redirects=False) as resp:
        assert resp.status == 303
        assert set_cookies(resp.headers)["kolokol_session"].value == ""
