"""GET /api/recordings/{id}/audio (Range, ``?download=1``) and /api/recordings/{id}/peaks.

Admins and managers hear every recording; operators as ``recordings.operators_listen`` says; marketers
and integrations are refused (the CRM gets signed links instead: link_api).
"""

from __future__ import annotations

from aiohttp import web

from kolokol.app_keys import SESSIONS, SETTINGS
from kolokol.auth.api_guard import PRINCIPAL, requires
from kolokol.auth.principal import Principal
from kolokol.auth.roles import CONSOLE_ROLES
from kolokol.http.errors import ApiError
from kolokol.http.json_response import json_response
from kolokol.storage.tables import Call, Recording
from recordings import serving
from recordings.access_rules import call_phones, may_listen

routes = web.RouteTableDef()
# Who may reach the handlers at all; operators are then checked call by call.
LISTEN_ROLES = CONSOLE_ROLES


async def _recording_for(request: web.Request, principal: Principal) -> Recording:
    async with request.app[SESSIONS]() as session:
        recording = await serving.find(session, request.match_info["recording_id"])
        phones: frozenset[str] = frozenset()
        if principal.role == "operator":
            call = await session.get(Call, recording.call_id)
            if call is not None:
                phones = call_phones(call.operator, call.answered_by, call.rang, call.caller, call.called)
    setting = request.app[SETTINGS].recordings.operators_listen
    if not may_listen(principal.role, principal.extensions, operators_listen=setting, phones=phones):
        raise ApiError(403, "forbidden", "this recording is not of a call on your phones")
    return recording


@routes.get("/api/recordings/{recording_id}/audio")
@requires(LISTEN_ROLES)
async def audio(request: web.Request) -> web.StreamResponse:
    principal = request[PRINCIPAL]
    download = serving.wants_download(request)
    recording = await _recording_for(request, principal)
    listener = serving.Listener(who=principal.name, role=principal.role, via=principal.via)
    return await serving.serve(request, recording, listener, download=download)


@routes.get("/api/recordings/{recording_id}/peaks")
@requires(LISTEN_ROLES)
async def peaks(request: web.Request) -> web.Response:
    """The waveform the player draws: about a thousand buckets 0..100 (per channel for two channels)."""
    recording = await _recording_for(request, request[PRINCIPAL])
    serving.require_playable(recording)
    body = {
        "id": recording.id,
        "duration_seconds": recording.duration_seconds,
        "channels": recording.channels,
        "peaks": recording.peaks,
    }
    return json_response(body, headers={"Cache-Control": serving.CACHE_CONTROL})
