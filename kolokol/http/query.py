"""Query-string parsing with clear 400s for hostile or malformed input."""

from __future__ import annotations

from datetime import UTC, datetime

from aiohttp import web

from kolokol.http.errors import ApiError
from pbx.untrusted import ascii_digits, text_problem


def choice(request: web.Request, name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    if value not in allowed:
        raise ApiError(
            400, "invalid-parameter", f"{name} must be one of {', '.join(allowed)}", {"parameter": name}
        )
    return value


def moment(request: web.Request, name: str) -> datetime | None:
    value = request.query.get(name)
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        # In UTC, as the database holds times (SQLite compares them as text); a time at the edge of the
        # calendar with an offset (9999-12-31T23:59-23:59) has no UTC and is refused.
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise ApiError(
            400, "invalid-parameter", f"{name} must be an ISO 8601 date or time", {"parameter": name}
        ) from exc


def integer(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    value = request.query.get(name)
    if value is None or value == "":
        return default
    # ASCII digits only: "²" and "①" pass str.isdigit() but not int(), and 5,000 digits are no page.
    if not ascii_digits(value) or not low <= int(value) <= high:
        raise ApiError(
            400,
            "invalid-parameter",
            f"{name} must be a whole number from {low} to {high}",
            {"parameter": name},
        )
    return int(value)


def text(request: web.Request, name: str, max_length: int = 200) -> str | None:
    value = request.query.get(name)
    if value is None or value == "":
        return None
    if len(value) > max_length:
        raise ApiError(400, "invalid-parameter", f"{name} is too long", {"parameter": name})
    if (problem := text_problem(value)) is not None:
        raise ApiError(400, "invalid-parameter", f"{name} {problem}", {"parameter": name})
    return value


def page(request: web.Request) -> tuple[int, int]:
    """limit (1-500, default 50) and offset, the paging every list endpoint takes."""
    return integer(request, "limit", 50, 1, 500), integer(request, "offset", 0, 0, 10_000_000)
