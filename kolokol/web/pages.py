"""The operator console, the supervisor view and the marketer page: server-rendered HTML shells plus
their static files.

The pages are shells: the header and the empty regions come from the server (so the page reads right
before any script runs); the live content is built in the browser by ES modules under ``/static/``. Every
value a page needs up front (the language, its words, the user, console settings) travels in one
``<script type="application/json" id="page-data">`` block, because the CSP forbids inline scripts.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from aiohttp import web

from kolokol.app_keys import SETTINGS
from kolokol.auth.page_guard import csrf_token, page_language, page_principal, remember_language
from kolokol.auth.principal import Principal
from kolokol.auth.roles import CONSOLE_ROLES, MANAGE_TRACKING, READ_TRACKING, SUPERVISOR_ROLES
from kolokol.calls.availability import click_to_call_ready
from kolokol.settings import LANGUAGES
from kolokol.web.html_render import json_for_script, render
from kolokol.web.i18n import MESSAGES, translate

STATIC = Path(__file__).parent / "static"


CONSOLE_PATH = "/console"
SUPERVISOR_PATH = "/console/supervisor"
MARKETER_PATH = "/marketer"
CALLS_PATH = "/calls"

# The pages in the header's tabs, in order, and who may open each.
PAGES = (
    ("console", CONSOLE_PATH, "console.nav.console", CONSOLE_ROLES),
    ("supervisor", SUPERVISOR_PATH, "console.nav.supervisor", SUPERVISOR_ROLES),
    ("calls", CALLS_PATH, "calls.nav", CONSOLE_ROLES),
    ("marketer", MARKETER_PATH, "marketer.nav", READ_TRACKING),
)


def home_path(role: str) -> str:
    """The first page this role may open (the brand link goes there)."""
    return next((path for _, path, _, roles in PAGES if role in roles), CONSOLE_PATH)


def page_data(request: web.Request, principal: Principal, language: str, page: str) -> dict[str, Any]:
    settings = request.app[SETTINGS]
    return {
        "page": page,
        "lang": language,
        "messages": MESSAGES[language],
        "user": {
            "username": principal.name,
            "display_name": principal.display_name,
            "role": principal.role,
            "extensions": list(principal.extensions),
            "supervises": principal.role in SUPERVISOR_ROLES,
        },
        "console": {
            "task_warning_minutes": settings.console.task_warning_minutes,
            "sla_minutes": settings.tasks.sla_minutes,
            "max_attempts": settings.tasks.max_attempts,
            "undo_seconds": settings.tasks.undo_seconds,
            # Kept current by the page from /api/me and /api/live (the AMI connection comes and goes).
            "click_to_call": click_to_call_ready(request.app),
        },
        "urls": {
            "login": "/login",
            "console": CONSOLE_PATH,
            "supervisor": SUPERVISOR_PATH,
            "marketer": MARKETER_PATH,
            "calls": CALLS_PATH,
        },
    }


def tracking_data(request: web.Request, principal: Principal) -> dict[str, Any]:
    """What the marketer page needs up front: may this user change things, and the report settings."""
    tracking = request.app[SETTINGS].tracking
    return {
        "can_edit": principal.role in MANAGE_TRACKING,
        "timezone": tracking.timezone,
        "target_call_seconds": tracking.target_call_seconds,
        "overflow_target": tracking.overflow_target,
    }


def _nav(principal: Principal, language: str, page: str) -> str:
    """Tabs for the pages this user may open, when there is more than one."""
    pages = [(target, path, key) for target, path, key, roles in PAGES if principal.role in roles]
    if len(pages) < 2:
        return ""
    links = []
    for target, path, key in pages:
        # A call's page belongs to the call log's tab.
        current = ' aria-current="page"' if target == {"call": "calls"}.get(page, page) else ""
        label = html.escape(translate(language, key))
        links.append(f'<a class="topnav-link" href="{path}"{current}>{label}</a>')
    label = html.escape(translate(language, "console.nav.label"))
    return f'<nav class="topnav" aria-label="{label}">{"".join(links)}</nav>'


def _language_links(language: str) -> str:
    links = []
    for choice in LANGUAGES:
        current = ' aria-current="true"' if choice == language else ""
        name = html.escape(translate(choice, f"console.language.{choice}"))
        links.append(
            f'<a href="?lang={choice}" lang="{choice}" hreflang="{choice}"{current} '
            f'title="{name}">{choice.upper()}</a>'
        )
    return "".join(links)


def _extensions_text(principal: Principal, language: str) -> str:
    if not principal.extensions:
        return translate(language, "console.me.no_extension")
    return translate(language, "console.me.extensions").replace("{ext}", ", ".join(principal.extensions))


def render_page(
    request: web.Request,
    principal: Principal,
    language: str,
    page: str,
    extra: dict[str, Any] | None = None,
) -> web.Response:
    values = {
        "lang": language,
        "csrf": csrf_token(request),
        "display_name": principal.display_name or principal.name,
        "extensions": _extensions_text(principal, language),
        "home": home_path(principal.role),
    }
    data = page_data(request, principal, language, page)
    if page == "marketer":
        data["tracking"] = tracking_data(request, principal)
    data.update(extra or {})
    raw = {
        "nav": _nav(principal, language, page),
        "languages": _language_links(language),
        "page_data": json_for_script(data),
    }
    raw["header"] = render("_header.html", language, values, raw)
    body = render(f"{page}.html", language, values, raw)
    # CSP, no-store and the other page headers come from kolokol.http.security for every HTML page.
    response = web.Response(text=body, content_type="text/html", charset="utf-8")
    remember_language(request, response)
    return response


async def console_page(request: web.Request) -> web.Response:
    principal = await page_principal(request, CONSOLE_ROLES | READ_TRACKING)
    if principal.role not in CONSOLE_ROLES:
        # A marketer logging in lands on /console (the login's default): their page is the marketer one.
        raise web.HTTPSeeOther(location=MARKETER_PATH)
    return render_page(request, principal, page_language(request), "console")


async def supervisor_page(request: web.Request) -> web.Response:
    principal = await page_principal(request, SUPERVISOR_ROLES)
    return render_page(request, principal, page_language(request), "supervisor")


async def marketer_page(request: web.Request) -> web.Response:
    principal = await page_principal(request, READ_TRACKING)
    return render_page(request, principal, page_language(request), "marketer")


async def _static_headers(request: web.Request, response: web.StreamResponse) -> None:
    if request.path.startswith("/static/"):
        # Small files on the clinic's own network: revalidate every time (a 304), so an update is never
        # half-applied from a stale cache, and module scripts are never sniffed into something else.
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"


async def favicon(_request: web.Request) -> web.FileResponse:
    # Browsers ask for /favicon.ico on pages without an icon link (the login page): no 404 in the logs.
    return web.FileResponse(STATIC / "favicon.svg", headers={"Content-Type": "image/svg+xml"})


def add_routes(app: web.Application) -> None:
    """GET /console, /console/supervisor, /marketer, the static files under /static/ and /favicon.ico."""
    app.router.add_get(CONSOLE_PATH, console_page)
    app.router.add_get(SUPERVISOR_PATH, supervisor_page)
    app.router.add_get(MARKETER_PATH, marketer_page)
    app.router.add_get("/favicon.ico", favicon)
    app.router.add_static("/static/", STATIC, name="static")
    app.on_response_prepare.append(_static_headers)
