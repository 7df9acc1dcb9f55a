"""Whether click-to-call can work right now: Asterisk is configured and kolokol is logged in to it.

The console offers "call" buttons only then (cloud PBX click-to-call is not built yet); it reads this from
its page, `/api/me` and `/api/live`, and asks again now and then, so a lost AMI connection hides them.
"""

from __future__ import annotations

from aiohttp import web

from kolokol.app_keys import AMI, CLICK_TO_CALL


def click_to_call_ready(app: web.Application) -> bool:
    ami = app.get(AMI)
    return app.get(CLICK_TO_CALL) is not None and ami is not None and ami.logged_in
