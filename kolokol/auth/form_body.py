"""Reading the small urlencoded forms of the login pages defensively, and the safe `next` address.

Anything unexpected (another content type, a body over the limit, invalid UTF-8, too many fields,
an overlong value) is reported as None so the page can answer 400; nothing here raises on hostile input.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

from kolokol.http.body import BodyRefused, read_body

FORM_TYPE = "application/x-www-form-urlencoded"
MAX_BODY_BYTES = 16 * 1024
MAX_FIELDS = 16
DEFAULT_NEXT = "/console"
_MAX_NEXT_CHARS = 2000


async def _read_at_most(request: web.Request, limit: int) -> bytes | None:
    # Within the [http] body deadlines: a slow sender gets 408, one that goes away is logged briefly.
    try:
        return await read_body(request, limit)
    except BodyRefused as exc:
        if exc.status == 408:
            raise
        return None


async def read_form(request: web.Request, limits: dict[str, int]) -> dict[str, str] | None:
    """The form's fields (first value of each), or None when the body is not a readable small form.

    ``limits`` names the fields that matter and their maximum lengths; other fields are ignored.
    """
    if request.content_type != FORM_TYPE:
        return None
    body = await _read_at_most(request, MAX_BODY_BYTES)
    if body is None:
        return None
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, errors="strict", max_num_fields=MAX_FIELDS
        )
    except (UnicodeDecodeError, ValueError):
        return None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in limits and name not in form:
            if len(value) > limits[name]:
                return None
            form[name] = value
    return form


def safe_next(candidate: str | None) -> str:
    """`candidate` when it is a path on this site, else the console.

    Refuses anything a browser could read as another site: "//host", "/\\host", a scheme, and control
    characters or whitespace (browsers strip tabs and newlines, turning "/\\t/host" into "//host").
    """
    if not candidate or len(candidate) > _MAX_NEXT_CHARS:
        return DEFAULT_NEXT
    if not candidate.startswith("/") or candidate.startswith(("//", "/\\")):
        return DEFAULT_NEXT
    # Percent-encoded ASCII only (what request.path_qs gives): it goes into a Location header as is.
    if not candidate.isascii() or "\\" in candidate:
        return DEFAULT_NEXT
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in candidate):
        return DEFAULT_NEXT
    parts = urlsplit(candidate)
    if parts.scheme or parts.netloc:
        return DEFAULT_NEXT
    # Back to the login page would only show the form again.
    if parts.path in ("/login", "/logout"):
        return DEFAULT_NEXT
    return candidate
