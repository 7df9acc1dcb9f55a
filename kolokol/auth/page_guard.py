"""What the console pages ask about the visitor: who is logged in, their CSRF token, their language."""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web

from kolokol.app_keys import SETTINGS
from kolokol.auth.login_html import message_page
from kolokol.auth.principal import Principal
from kolokol.auth.roles import CONSOLE_ROLES, MANAGE_TRACKING
from kolokol.auth.session_cookie import (
    SESSION_COOKIE,
    clear_session_cookie,
    current_session,
    resolved_session,
    secure_cookies,
)
from kolokol.auth.users import principal_of
from kolokol.settings import LANGUAGES
from kolokol.web.i18n import LANGUAGE_COOKIE, pick_language

LOGIN_PATH = "/login"
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600


def login_redirect(request: web.Request) -> web.HTTPSeeOther:
    """To the login page, coming back to this page (path and query) afterwards."""
    redirect = web.HTTPSeeOther(location=f"{LOGIN_PATH}?{urlencode({'next': request.path_qs})}")
    if SESSION_COOKIE in request.cookies:
        # The cookie names a session that has ended: stop sending it.
        clear_session_cookie(redirect, request.app[SETTINGS])
    return redirect


async def page_principal(request: web.Request, roles: frozenset[str]) -> Principal:
    """The logged-in user; otherwise a redirect to the login page, or a 403 page for the wrong role."""
    live = await current_session(request)
    if live is None:
        raise login_redirect(request)
    principal = principal_of(live.user, live.id)
    if principal.role not in roles:
        raise web.HTTPForbidden(
            text=message_page(
                page_language(request),
                title_key="login.forbidden_title",
                message_key="login.forbidden",
                link=_own_page(principal.role),
                logout_csrf=live.csrf_token,
            ),
            content_type="text/html",
        )
    return principal


def _own_page(role: str) -> tuple[str, str] | None:
    """Where someone who followed a link meant for others can go instead: their own page."""
    if role in CONSOLE_ROLES:
        return ("/console", "login.to_console")
    if role in MANAGE_TRACKING:
        return ("/marketer", "login.to_marketer")
    return None


def csrf_token(request: web.Request) -> str:
    """The session's CSRF token, for forms and for the page's API calls; valid after `page_principal`."""
    live = resolved_session(request)
    if live is None:
        raise RuntimeError("csrf_token() needs a logged-in request: call page_principal() first")
    return live.csrf_token


def _requested_language(request: web.Request) -> str | None:
    requested = request.query.get("lang")
    return requested if requested in LANGUAGES else None


def page_language(request: web.Request) -> str:
    """``?lang=``, else the remembered choice (cookie), else the user's own, else the configured default."""
    live = resolved_session(request)
    stored = live.user.language if live is not None else None
    default = request.app[SETTINGS].console.default_language
    return pick_language(
        _requested_language(request),
        request.cookies.get(LANGUAGE_COOKIE),
        stored if stored in LANGUAGES else default,
    )


def remember_language(request: web.Request, response: web.StreamResponse) -> None:
    """Keep a ``?lang=`` choice for a year, so every later page opens in it."""
    requested = _requested_language(request)
    if requested is None or requested == request.cookies.get(LANGUAGE_COOKIE):
        return
    response.set_cookie(
        LANGUAGE_COOKIE,
        requested,
        max_age=LANGUAGE_COOKIE_SECONDS,
        path="/",
        httponly=True,
        secure=secure_cookies(request.app[SETTINGS]),
        samesite="Lax",
    )
