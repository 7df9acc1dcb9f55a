"""The call log (/calls) and a call's page (/calls/{id}): shells like the console's, filled by
calllog.js and callpage.js from /api/calls.

Operators open both, scoped to their phones by the API (a call of someone else's phone reads as no such
call); marketers get the 403 page that shows the way to their own.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from kolokol.app_keys import SESSIONS, SETTINGS
from kolokol.auth.page_guard import page_language, page_principal
from kolokol.auth.principal import Principal
from kolokol.auth.roles import CONSOLE_ROLES
from kolokol.storage.tables import Call
from kolokol.web.pages import CALLS_PATH, render_page

# A live call's id: the PBX's name (20) and its call id (200).
_LONGEST_ID = 221
# How many branch names the filter offers at most (a clinic network has a few dozen at most).
_BRANCHES = 200


async def _branches(request: web.Request) -> list[str]:
    """Branch names for the filter: those configured and those calls were given."""
    settings = request.app[SETTINGS]
    names = set(settings.calls.branch_by_number.values()) | set(settings.calls.branch_by_extension.values())
    async with request.app[SESSIONS]() as session:
        stmt = select(Call.branch).where(Call.branch.is_not(None)).distinct().limit(_BRANCHES)
        names.update(name for name in (await session.scalars(stmt)).all() if name)
    return sorted(names)[:_BRANCHES]


def _calllog(request: web.Request, principal: Principal, branches: list[str]) -> dict[str, Any]:
    settings = request.app[SETTINGS]
    return {
        "timezone": settings.tracking.timezone,
        # Which recordings the player may offer (the audio API decides; this spares a player that
        # cannot load): every one, those of calls on the user's phones, or none.
        "listen": settings.recordings.operators_listen if principal.role == "operator" else "all",
        "branches": branches,
        "api": "/api/calls",
        "csv": "/api/calls.csv",
    }


async def calls_page(request: web.Request) -> web.Response:
    principal = await page_principal(request, CONSOLE_ROLES)
    extra = {"calllog": _calllog(request, principal, await _branches(request))}
    return render_page(request, principal, page_language(request), "calls", extra)


async def call_page(request: web.Request) -> web.Response:
    principal = await page_principal(request, CONSOLE_ROLES)
    call_id = request.match_info["call_id"]
    # Whether the call exists (and is theirs) is the API's to say: the shell is the same for any id. The
    # id is the call record's, or the live call's "<pbx>:<pbx_call_id>" (the console's recent calls).
    extra = {"calllog": _calllog(request, principal, []), "call_id": call_id[:_LONGEST_ID]}
    return render_page(request, principal, page_language(request), "call", extra)


def add_routes(app: web.Application) -> None:
    app.router.add_get(CALLS_PATH, calls_page)
    app.router.add_get(CALLS_PATH + "/{call_id}", call_page)
