"""GET /api/live: the calls in progress with their caller cards, where the console starts from.

The console opens the feed, subscribes, then loads this; each call carries the id of the last feed message
about it, so a message that was already folded into the snapshot is recognised and skipped.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from kolokol.app_keys import FEED, LIVE, SESSIONS
from kolokol.auth.api_guard import PRINCIPAL, requires
from kolokol.auth.roles import CONSOLE_ROLES
from kolokol.calls.availability import click_to_call_ready
from kolokol.feed.live_json import live_call_json
from kolokol.http.json_response import json_response
from kolokol.storage.tables import User

# Who may watch calls as they happen: the people on the feed.
routes = web.RouteTableDef()


@routes.get("/api/live")
@requires(CONSOLE_ROLES)
async def live_calls(request: web.Request) -> web.Response:
    principal = request[PRINCIPAL]
    extensions = None if principal.supervises else frozenset(principal.extensions)
    live = request.app[LIVE]
    body: dict[str, Any] = {
        "last_id": request.app[FEED].last_id,
        "calls": [
            {
                "message_id": entry.message_id,
                "call": live_call_json(entry.call),
                "card": await live.card_of(entry),
            }
            for entry in live.live_calls(extensions)
        ],
    }
    # Who answers which phone, for everyone: screens name people ("answered by Борис Орлов", the
    # supervisor's board with its idle phones too), not bare extensions.
    body["extensions"] = await _phones_of_active_users(request)
    body["click_to_call"] = click_to_call_ready(request.app)
    return json_response(body)


async def _phones_of_active_users(request: web.Request) -> list[dict[str, Any]]:
    """Every extension someone answers, with who."""
    async with request.app[SESSIONS]() as session:
        users = (await session.scalars(select(User).where(User.active.is_(True)))).all()
    owners: dict[str, list[str]] = {}
    for user in sorted(users, key=lambda u: u.display_name):
        for extension in user.extensions:
            owners.setdefault(extension, []).append(user.display_name)
    return [
        {"extension": extension, "users": names}
        for extension, names in sorted(owners.items(), key=lambda item: (len(item[0]), item[0]))
    ]
