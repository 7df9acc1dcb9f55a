"""Logging in to the console as a receptionist does: the form, cookies, where it leads, mistakes, limits,
expiry and logging out. Real HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from kolokol.app_keys import SESSIONS
from kolokol.auth.users import set_active, set_password
from kolokol.http.security import CONTENT_SECURITY_POLICY
from tests.support.logins import (
    PASSWORD,
    Client,
    ClientMaker,
    Clock,
    add_user,
    form_csrf,
    log_in,
    post_login,
    set_cookies,
    start_app,
)


@pytest.fixture
async def site(db_url: str, aiohttp_client: ClientMaker) -> tuple[web.Application, Client, Clock]:
    clock = Clock()
    app, client = await start_app(db_url, aiohttp_client, clock)
    await add_user(app, "Anna", "operator", extensions=("101", "102"), display_name="Анна Петрова")
    return app, client, clock


async def me_status(client: Client) -> int:
    async with client.get("/api/me") as resp:
        return resp.status


async def test_the_login_page_is_a_plain_form_in_russian_with_security_headers(
    site: tuple[web.Application, Client, Clock],
) -> None:
    _, client, _ = site
    async with client.get("/login") as resp:
        assert resp.status == 200
        page = await resp.text()
        headers = resp.headers
    assert '<html lang="ru">' in page
    for words in ("Вход", "Имя пользователя", "Пароль", "Войти"):
        assert words in page
    assert 'autocomplete="username"' in page and 'autocomplete="current-password"' in page
    assert 'href="/static/console.css"' in page
    assert headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cache-Control"] == "no-store"
    login_cookie = set_cookies(headers)["kolokol_login_csrf"]
    assert login_cookie.value == form_csrf(page)
    assert login_cookie["httponly"] and login_cookie["samesite"] == "Strict"


async def test_english_is_one_click_away_and_remembered(site: tuple[web.Application, Client, Clock]) -> None:
    _, client, _ = site
    async with client.get("/login", params={"lang": "en"}) as resp:
        page = await resp.text()
        remembered = set_cookies(resp.headers)["kolokol_lang"]
    assert '<html lang="en">' in page and "Username" in page
    assert remembered.value == "en" and int(remembered["max-age"]) >= 364 * 24 * 3600
    async with client.get("/login") as resp:
        assert "Username" in await resp.text(), "the choice sticks without ?lang"


async def test_a_good_login_sets_a_safe_cookie_and_opens_the_console(
    site: tuple[web.Application, Client, Clock],
) -> None:
    _, client, _ = site
    status, _, headers = await post_login(client, "  ANNA ")
    assert (status, headers["Location"]) == (303, "/console")
    cookie = set_cookies(headers)["kolokol_session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert not cookie["secure"], "plain HTTP without an https public_url"
    async with client.get("/api/me") as resp:
        me = await resp.json()
    assert me["username"] == "anna" and me["display_name"] == "Анна Петрова"
    assert (me["role"], me["extensions"], me["via"]) == ("operator", ["101", "102"], "session")
    assert me["csrf_token"] and me["language"] is None
    async with client.get("/login", allow_redirects=False) as resp:
        assert (resp.status, resp.headers["Location"]) == (303, "/console"), "already logged in"


async def test_the_session_cookie_is_secure_behind_https(db_url: str, aiohttp_client: ClientMaker) -> None:
    app, client = await start_app(
        db_url, aiohttp_client, Clock(), http={"public_url": "https://kolokol.clinic"}
    )
    await add_user(app, "olga", "manager")
    status, _, headers = await post_login(client, "olga")
    assert status == 303
    assert set_cookies(headers)["kolokol_session"]["secure"]


async def test_unknown_user_and_wrong_password_get_the_same_answer(
    site: tuple[web.Application, Client, Clock],
) -> None:
    _, client, _ = site
    wrong_password = await post_login(client, "anna", "not the password")
    unknown_user = await post_login(client, "boris", "not the password")
    for status, page, headers in (wrong_password, unknown_user):
        assert status == 401
        assert "Неверное имя пользователя или пароль" in page
        assert "kolokol_session" not in set_cookies(headers)
    assert wrong_password[1].replace("anna", "boris") == unknown_user[1].replace(
        form_csrf(unknown_user[1]), form_csrf(wrong_password[1])
    ), "nothing tells an existing user from a missing one"
    assert await me_status(client) == 401


@pytest.mark.parametrize(
    ("asked", "landing"),
    [
        ("/console/supervisor?tab=tasks", "/console/supervisor?tab=tasks"),
        ("/console", "/console"),
        ("//evil.example/console", "/console"),
        ("/\\evil.example", "/console"),
        ("https://evil.example/", "/console"),
        ("javascript:alert(1)", "/console"),
        ("/\t/evil.example", "/console"),
        ("console", "/console"),
        ("/login", "/console"),
    ],
)
async def test_after_login_only_local_pages_are_followed(
    site: tuple[web.Application, Client, Clock], asked: str, landing: str
) -> None:
    _, client, _ = site
    status, _, headers = await post_login(client, "anna", next_path=asked)
    assert (status, headers["Location"]) == (303, landing)


async def test_a_form_without_its_login_cookie_is_refused(
    site: tuple[web.Application, Client, Clock],
) -> None:
    _, client, _ = site
    async with client.get("/login") as page:
        csrf = form_csrf(await page.text())
    client.session.cookie_jar.clear()
    form = {"username": "anna", "password": PASSWORD, "csrf": csrf}
    async with client.post("/login", data=form, allow_redirects=False) as resp:
        assert resp.status == 403
        assert "Форма устарела" in await resp.text()
    assert await me_status(client) == 401


async def test_password_guessing_is_slowed_to_the_limit(site: tuple[web.Application, Client, Clock]) -> None:
    _, client, clock = site
    for _ in range(10):
        status, _, _ = await post_login(client, "anna", "guess guess guess")
        assert status == 401
    status, page, headers = await post_login(client, "anna")
    assert status == 429, "even the right password waits once the limit is reached"
    assert "Слишком много попыток. Подождите минуту." in page and headers["Retry-After"] == "60"
    status, _, _ = await post_login(client, "someone-else", "guess guess guess")
    assert status == 429, "the same address is limited across usernames"
    clock.advance(seconds=61)
    status, _, _ = await post_login(client, "anna")
    assert status == 303


async def test_a_session_ends_after_the_idle_time(site: tuple[web.Application, Client, Clock]) -> None:
    _, client, clock = site
    await log_in(client, "anna")
    for _ in range(2):
        clock.advance(hours=11, minutes=59)
        assert await me_status(client) == 200, "each request restarts the 12-hour idle time"
    client.session.cookie_jar.clear()
    await log_in(client, "anna")
    clock.advance(hours=12, seconds=1)
    assert await me_status(client) == 401
    async with client.get("/login", allow_redirects=False) as resp:
        assert resp.status == 200, "an ended session shows the form again"


async def test_a_session_ends_at_its_absolute_limit_however_busy(
    site: tuple[web.Application, Client, Clock],
) -> None:
    _, client, clock = site
    await log_in(client, "anna")
    for _ in range(23):
        clock.advance(hours=1)
        assert await me_status(client) == 200
    clock.advance(hours=1)
    assert await me_status(client) == 401


async def test_logout_ends_the_session_for_good(site: tuple[web.Application, Client, Clock]) -> None:
    _, client, _ = site
    csrf = await log_in(client, "anna")
    stolen = client.session.cookie_jar.filter_cookies(client.make_url("/"))["kolokol_session"].value
    async with client.post("/logout", data={"csrf": "wrong"}, allow_redirects=False) as resp:
        assert resp.status == 403, "another site cannot log people out"
    assert await me_status(client) == 200
    async with client.post("/logout", data={"csrf": csrf}, allow_redirects=False) as resp:
        assert (resp.status, resp.headers["Location"]) == (303, "/login")
        cleared = set_cookies(resp.headers)["kolokol_session"]
    assert cleared.value == "" and cleared["max-age"] == "0"
    async with client.get("/api/me", cookies={"kolokol_session": stolen}) as resp:
        assert resp.status == 401, "a kept copy of the cookie no longer works"


async def test_a_password_change_or_disabling_ends_open_sessions(
    site: tuple[web.Application, Client, Clock],
) -> None:
    app, client, clock = site
    await log_in(client, "anna")
    await set_password(app[SESSIONS], "anna", "a brand new password", now=clock())
    assert await me_status(client) == 401
    status, _, _ = await post_login(client, "anna")
    assert status == 401, "the old password is gone"
    await log_in(client, "anna", "a brand new password")
    await set_active(app[SESSIONS], "anna", False, now=clock())
    assert await me_status(client) == 401
    status, _, _ = await post_login(client, "anna", "a brand new password")
    assert status == 401, "a disabled account cannot log in"


async def test_root_leads_to_the_console(site: tuple[web.Application, Client, Clock]) -> None:
    _, client, _ = site
    async with client.get("/", allow_redirects=False) as resp:
        assert (resp.status, resp.headers["Location"]) == (303, "/console")


FORM = "application/x-www-form-urlencoded"
HOSTILE_BODIES = [
    pytest.param(b'{"username": "anna"}', "application/json", id="json"),
    pytest.param(b"username=\xff\xfe&password=x&csrf=y", FORM, id="raw-non-utf8"),
    pytest.param(b"username=%FF%FE&password=x&csrf=y", FORM, id="escaped-non-utf8"),
    pytest.param(b"username=anna", FORM, id="missing-fields"),
    pytest.param(b"", FORM, id="empty"),
    pytest.param(b"&".join(b"f%d=1" % i for i in range(500)), FORM, id="500-fields"),
    pytest.param(b"username=" + b"a" * 1024 * 1024 + b"&password=x&csrf=y", FORM, id="1MB-field"),
    pytest.param(b"username=anna&password=" + b"p" * 5000 + b"&csrf=y", FORM, id="5KB-password"),
    pytest.param(
        b"--x\r\nContent-Disposition: form-data\r\n\r\n--x--",
        "multipart/form-data; boundary=x",
        id="multipart",
    ),
]


@pytest.mark.parametrize(("body", "content_type"), HOSTILE_BODIES)
async def test_hostile_login_bodies_get_a_400_page_never_a_500(
    site: tuple[web.Application, Client, Clock], body: bytes, content_type: str
) -> None:
    _, client, _ = site
    async with client.post(
        "/login", data=io.BytesIO(body), headers={"Content-Type": content_type}, allow_redirects=False
    ) as resp:
        assert resp.status == 400
        assert resp.content_type == "text/html"
        assert "Не удалось прочитать форму" in await resp.text()
    status, _, _ = await post_login(client, "anna")
    assert status == 303, "the login still works afterwards"


async def test_typed_values_are_escaped_back_into_the_form(
    site: tuple[web.Application, Client, Clock],
) -> None:
    _, client, _ = site
    status, page, _ = await post_login(client, '"><script>alert(1)</script>', "wrong password!!")
    assert status == 401
    assert "<script>" not in page and "&lt;script&gt;" in page


async def test_a_streamed_body_without_a_length_is_cut_off(
    site: tuple[web.Application, Client, Clock],
) -> None:
    _, client, _ = site

    async def endless() -> AsyncIterator[bytes]:
        yield b"username="
        for _ in range(64):
            yield b"a" * 16 * 1024

    async with client.post("/login", data=endless(), headers={"Content-Type": FORM}) as resp:
        assert resp.status == 400


@pytest.mark.parametrize("query", ["next=%ff%fe", "lang=xx", "lang=en&lang=ru", "next=" + "/" * 5000])
async def test_odd_login_links_still_show_the_form(
    site: tuple[web.Application, Client, Clock], query: str
) -> None:
    _, client, _ = site
    async with client.get(f"/login?{query}") as resp:
        assert resp.status == 200
        assert 'name="next" value="/' in await resp.text()


async def test_a_login_link_with_a_nul_is_refused_naming_the_parameter(
    site: tuple[web.Application, Client, Clock],
) -> None:
    # Every entry refuses text no database can store (kolokol.http.request_text), the login page too.
    _, client, _ = site
    async with client.get("/login?next=%00") as resp:
        assert resp.status == 400
        assert (await resp.json())["details"] == {"parameter": "next"}


async def test_logging_out_without_a_session_just_leads_to_the_login(
    site: tuple[web.Application, Client, Clock],
) -> None:
    _, client, _ = site
    async with client.post("/logout", allow_redirects=False) as resp:
        assert (resp.status, resp.headers["Location"]) == (303, "/login")
