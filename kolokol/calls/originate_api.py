"""POST /api/calls/originate: click-to-call. The operator's phone rings, then the number is dialled."""

from __future__ import annotations

from aiohttp import web

from kolokol.app_keys import CLICK_TO_CALL, PHONES, SETTINGS
from kolokol.auth.api_guard import PRINCIPAL, requires
from kolokol.auth.roles import ORIGINATE_FROM_ANY_PHONE
from kolokol.calls.click_to_call import AlreadyCalling, OriginateRefused, PbxUnavailable
from kolokol.http.errors import ApiError, json_body
from kolokol.http.json_response import json_response

# Integrations (a CRM's "call" button) may ring any phone; operators only their own.
PLACE_CALLS = frozenset({"admin", "manager", "operator", "integration"})
routes = web.RouteTableDef()


@routes.post("/api/calls/originate")
@requires(PLACE_CALLS)
async def originate(request: web.Request) -> web.Response:
    body = await json_body(request)
    principal = request[PRINCIPAL]
    extension = body.get("extension")
    max_digits = request.app[SETTINGS].phones.max_extension_digits
    if not isinstance(extension, str) or not (extension.isascii() and extension.isdigit()):
        raise ApiError(
            400,
            "invalid-field",
            "extension must be the operator's phone number, e.g. 101",
            {"field": "extension"},
        )
    if not 2 <= len(extension) <= max_digits:
        raise ApiError(
            400, "invalid-field", f"extension must have 2 to {max_digits} digits", {"field": "extension"}
        )
    raw = body.get("number")
    number = request.app[PHONES].e164(raw) if isinstance(raw, str) and len(raw) <= 60 else None
    if number is None:
        raise ApiError(400, "invalid-field", "number must be a phone number", {"field": "number"})
    if principal.role not in ORIGINATE_FROM_ANY_PHONE and extension not in principal.extensions:
        raise ApiError(
            403, "forbidden", "you may place calls only from your own phone", {"extension": extension}
        )
    clicker = request.app[CLICK_TO_CALL]
    if clicker is None:
        raise ApiError(503, "pbx-unavailable", "click-to-call needs an Asterisk connection ([pbx.asterisk])")
    try:
        await clicker.originate(extension, number)
    except AlreadyCalling as exc:
        raise ApiError(
            409,
            "originate-in-progress",
            "this phone is already being rung for a call",
            {"extension": extension},
        ) from exc
    except PbxUnavailable as exc:
        raise ApiError(503, "pbx-unavailable", f"Asterisk cannot place the call now: {exc}") from exc
    except OriginateRefused as exc:
        raise ApiError(502, "originate-refused", f"Asterisk refused the call: {exc}") from exc
    return json_response({"extension": extension, "number": number, "status": "requested"}, status=202)
