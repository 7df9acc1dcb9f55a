"""The login page, logging in and out: GET/POST /login, POST /logout, and / (to the console).

Login CSRF is a double-submit cookie: the form carries the same random value as a SameSite=Strict
cookie only this site can set, so another site cannot log a browser in to an account of its choosing.
"""

from __future__ import annotations

import logging
import re
import secrets

from aiohttp import web

from kolokol.app_keys import CLOCK, LOGIN_LIMITER, SESSIONS, SETTINGS
from kolokol.auth.form_body import DEFAULT_NEXT, read_form, safe_next
from kolokol.auth.login_html import login_page, message_page
from kolokol.auth.login_limit import WINDOW_SECONDS
from kolokol.auth.page_guard import LOGIN_PATH, page_language, remember_language
from kolokol.auth.session_cookie import (
    CSRF_HEADER,
    SESSION_COOKIE,
    clear_session_cookie,
    csrf_matches,
    current_session,
    forget_session,
    secure_cookies,
    session_policy,
    set_session_cookie,
)
from kolokol.auth.sessions import create_session, delete_session, purge_expired
from kolokol.auth.users import UserError, authenticate, normalize_username
from kolokol.storage.tables import User

log = logging.getLogger("kolokol.login")
routes = web.RouteTableDef()

LOGIN_CSRF_COOKIE = "kolokol_login_csrf"
# Generous for people, small enough that nothing huge is ever hashed, stored or echoed back.
_LOGIN_FIELDS = {"username": 256, "password": 4096, "csrf": 128, "next": 2000}
_LOGOUT_FIELDS = {"csrf": 128}
_CSRF_FORMAT = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)


def _see_other(location: str) -> web.Response:
    # Returned, not raised: the login's cookies ride on this response.
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


def _html(text: str, status: int) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def _login_csrf(request: web.Request) -> str:
    # Keep the browser's value when it has one, so two open login tabs both still work.
    current = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if _CSRF_FORMAT.fullmatch(current):
        return current
    return secrets.token_urlsafe(32)


def _login_response(
    request: web.Request,
    *,
    status: int,
    next_path: str,
    username: str = "",
    error_key: str | None = None,
) -> web.Response:
    csrf = _login_csrf(request)
    language = page_language(request)
    page = login_page(language, csrf=csrf, next_path=next_path, username=username, error_key=error_key)
    response = _html(page, status)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        csrf,
        path=LOGIN_PATH,
        httponly=True,
        secure=secure_cookies(request.app[SETTINGS]),
        samesite="Strict",
    )
    remember_language(request, response)
    return response


def _limit_keys(username: str, remote: str | None) -> tuple[str, str]:
    try:
        name = normalize_username(username)
    except UserError:
        name = username.strip().lower()[:64]
    return f"user:{name}", f"addr:{remote or 'unknown'}"


@routes.get("/")
async def root(_request: web.Request) -> web.Response:
    return _see_other(DEFAULT_NEXT)


@routes.get(LOGIN_PATH)
async def login_form(request: web.Request) -> web.Response:
    next_path = safe_next(request.query.get("next"))
    if await current_session(request) is not None:
        return _see_other(next_path)
    return _login_response(request, status=200, next_path=next_path)


async def _start_session(request: web.Request, user: User) -> str:
    app = request.app
    now = app[CLOCK]()
    policy = session_policy(app)
    async with app[SESSIONS].begin() as session:
        # Logins are rare, so this is where the table is kept small.
        await purge_expired(session, now=now, policy=policy)
        previous = request.cookies.get(SESSION_COOKIE)
        if previous:
            # A new login never reuses a session id the browser already had (no fixation).
            await delete_session(session, previous)
        secret, _ = await create_session(
            session,
            user,
            now=now,
            policy=policy,
            remote_addr=request.remote,
            user_agent=request.headers.get("User-Agent"),
        )
    forget_session(request)
    return secret


@routes.post(LOGIN_PATH)
async def login_submit(request: web.Request) -> web.Response:
    form = await read_form(request, _LOGIN_FIELDS)
    if form is None or not {"username", "password", "csrf"} <= form.keys():
        return _login_response(request, status=400, next_path=DEFAULT_NEXT, error_key="login.bad_request")
    next_path = safe_next(form.get("next"))
    username = form["username"]
    if not csrf_matches(request.cookies.get(LOGIN_CSRF_COOKIE, ""), form["csrf"]):
        return _login_response(
            request, status=403, next_path=next_path, username=username, error_key="login.form_expired"
        )
    limiter = request.app[LOGIN_LIMITER]
    keys = _limit_keys(username, request.remote)
    moment = request.app[CLOCK]().timestamp()
    if limiter.blocked(keys, moment):
        log.warning("login refused: too many failures", extra={"limit_keys": list(keys)})
        response = _login_response(
            request, status=429, next_path=next_path, username=username, error_key="login.too_many"
        )
        response.headers["Retry-After"] = str(int(WINDOW_SECONDS))
        return response
    user = await authenticate(request.app[SESSIONS], username, form["password"], now=request.app[CLOCK]())
    if user is None:
        limiter.failed(keys, moment)
        log.info("login failed", extra={"username": username[:64], "remote": request.remote})
        return _login_response(
            request, status=401, next_path=next_path, username=username, error_key="login.failed"
        )
    limiter.succeeded(keys[0])
    secret = await _start_session(request, user)
    log.info("login", extra={"username": user.username, "remote": request.remote})
    response = _see_other(next_path)
    set_session_cookie(response, secret, request.app[SETTINGS])
    response.del_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH)
    return response


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    live = await current_session(request)
    if live is not None:
        form = await read_form(request, _LOGOUT_FIELDS) or {}
        if not csrf_matches(live.csrf_token, form.get("csrf") or request.headers.get(CSRF_HEADER)):
            # Another site must not be able to log people out; offer a fresh sign-out button instead.
            page = message_page(
                page_language(request),
                title_key="login.forbidden_title",
                message_key="login.form_expired",
                logout_csrf=live.csrf_token,
            )
            return _html(page, 403)
        async with request.app[SESSIONS].begin() as session:
            await delete_session(session, request.cookies[SESSION_COOKIE])
        forget_session(request)
        log.info("logout", extra={"username": live.user.username})
    response = _see_other(LOGIN_PATH)
    clear_session_cookie(response, request.app[SETTINGS])
    return response
