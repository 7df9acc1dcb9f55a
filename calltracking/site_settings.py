"""A site's and a static number's settings as the REST API takes them, checked: pure, no I/O.

Every number may be written in any spelling; it is kept in E.164. A problem is ``Invalid`` naming the
field (``pools[1].numbers[3]``), which the API answers as 400 ``invalid-field``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from calltracking.lease_rules import MATCH_KEYS
from calltracking.visit_source import CHANNELS
from kolokol.phones import PhoneNormalizer

SITE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_ORIGINS = 50
MAX_POOLS = 50
MAX_POOL_NUMBERS = 1000
MAX_REPLACES = 20
MAX_SOURCE_NUMBERS = 200
DEFAULT_HOLD_SECONDS = 300
DEFAULT_HEARTBEAT_SECONDS = 30
DEFAULT_MAX_LEASE_SECONDS = 3 * 3600
_ORIGIN = re.compile(r"^https?://[^/?#\s@]+$")


class Invalid(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True, slots=True)
class PoolSettings:
    name: str
    replaces: tuple[str, ...]
    numbers: tuple[str, ...]
    fallback: str | None = None
    branch: str | None = None
    channel: str | None = None


@dataclass(frozen=True, slots=True)
class SiteSettings:
    origins: tuple[str, ...]
    hold_seconds: int = DEFAULT_HOLD_SECONDS
    heartbeat_seconds: int = DEFAULT_HEARTBEAT_SECONDS
    max_lease_seconds: int = DEFAULT_MAX_LEASE_SECONDS
    pools: tuple[PoolSettings, ...] = ()
    source_numbers: tuple[dict[str, Any], ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class StaticNumber:
    name: str | None
    branch: str | None
    channel: str
    source: str | None
    medium: str | None
    campaign: str | None
    content: str | None
    term: str | None


def site_id_problem(site_id: str) -> str | None:
    if SITE_ID.fullmatch(site_id) is None:
        return "a site key is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
    return None


def site_settings(body: Mapping[str, Any], phones: PhoneNormalizer) -> SiteSettings:
    origins = tuple(
        _origin(value, f"origins[{n}]") for n, value in enumerate(_list(body, "origins", MAX_ORIGINS))
    )
    hold = _whole(body, "hold_seconds", DEFAULT_HOLD_SECONDS, 30, 24 * 3600)
    heartbeat = _whole(body, "heartbeat_seconds", DEFAULT_HEARTBEAT_SECONDS, 5, 3600)
    if heartbeat >= hold:
        raise Invalid("heartbeat_seconds", "heartbeat_seconds must be shorter than hold_seconds")
    longest = _whole(body, "max_lease_seconds", DEFAULT_MAX_LEASE_SECONDS, 60, 7 * 24 * 3600)
    if longest < hold:
        raise Invalid("max_lease_seconds", "max_lease_seconds must be at least hold_seconds")
    pools = tuple(
        _pool(item, f"pools[{n}]", phones) for n, item in enumerate(_list(body, "pools", MAX_POOLS))
    )
    names: set[str] = set()
    for n, pool in enumerate(pools):
        if pool.name in names:
            raise Invalid(f"pools[{n}].name", f"two pools are named {pool.name!r}")
        names.add(pool.name)
    sources = tuple(
        _source_number(item, f"source_numbers[{n}]", phones)
        for n, item in enumerate(_list(body, "source_numbers", MAX_SOURCE_NUMBERS))
    )
    return SiteSettings(origins, hold, heartbeat, longest, pools, sources)


def static_number(body: Mapping[str, Any]) -> StaticNumber:
    source = body.get("source", {})
    if source is None:
        source = {}
    if not isinstance(source, Mapping):
        raise Invalid("source", "source must be an object with source, medium, campaign, content, term")
    channel = _text(body, "channel", 20) or "offline"
    if channel not in CHANNELS:
        raise Invalid("channel", f"channel must be one of {', '.join(CHANNELS)}")
    return StaticNumber(
        name=_text(body, "name", 200),
        branch=_text(body, "branch", 100),
        channel=channel,
        source=_text(source, "source", 200, "source."),
        medium=_text(source, "medium", 200, "source."),
        campaign=_text(source, "campaign", 500, "source."),
        content=_text(source, "content", 500, "source."),
        term=_text(source, "term", 500, "source."),
    )


def e164(value: Any, where: str, phones: PhoneNormalizer) -> str:
    if not isinstance(value, str) or len(value) > 60:
        raise Invalid(where, f"{where} must be a phone number (a string)")
    number = phones.e164(value)
    if number is None:
        raise Invalid(where, f"{where} is not a phone number: {value[:60]!r}")
    return number


def _pool(item: Any, where: str, phones: PhoneNormalizer) -> PoolSettings:
    if not isinstance(item, Mapping):
        raise Invalid(where, f"{where} must be an object")
    name = _text(item, "name", 100, f"{where}.")
    if not name:
        raise Invalid(f"{where}.name", f"{where}.name is required")
    replaces = _numbers(item, "replaces", MAX_REPLACES, where, phones)
    if not replaces:
        raise Invalid(f"{where}.replaces", "a pool replaces at least one of the site's numbers")
    numbers = _numbers(item, "numbers", MAX_POOL_NUMBERS, where, phones)
    fallback_raw = item.get("fallback")
    fallback = None if fallback_raw is None else e164(fallback_raw, f"{where}.fallback", phones)
    if fallback is not None and fallback in numbers:
        raise Invalid(
            f"{where}.fallback", "the fallback is shown when every pool number is taken: not one of them"
        )
    channel = _text(item, "channel", 20, f"{where}.")
    if channel is not None and channel not in CHANNELS:
        raise Invalid(f"{where}.channel", f"channel must be one of {', '.join(CHANNELS)} or null")
    return PoolSettings(name, replaces, numbers, fallback, _text(item, "branch", 100, f"{where}."), channel)


def _source_number(item: Any, where: str, phones: PhoneNormalizer) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise Invalid(where, f"{where} must be an object")
    number = e164(item.get("number"), f"{where}.number", phones)
    replaces = _numbers(item, "replaces", MAX_REPLACES, where, phones)
    if not replaces:
        raise Invalid(f"{where}.replaces", "a source number replaces at least one of the site's numbers")
    match = item.get("match", {})
    if match is None:
        match = {}
    if not isinstance(match, Mapping):
        raise Invalid(f"{where}.match", f"match is an object with {', '.join(MATCH_KEYS)}")
    unknown = sorted(set(match) - set(MATCH_KEYS))
    if unknown:
        raise Invalid(f"{where}.match.{unknown[0][:40]}", f"match takes {', '.join(MATCH_KEYS)}")
    fits = {
        key: _text(match, key, 500, f"{where}.match.") for key in MATCH_KEYS if match.get(key) is not None
    }
    return {"number": number, "replaces": list(replaces), "match": fits}


def _numbers(
    item: Mapping[str, Any], key: str, most: int, where: str, phones: PhoneNormalizer
) -> tuple[str, ...]:
    found: dict[str, None] = {}  # in the order given
    for n, value in enumerate(_list(item, key, most, f"{where}.")):
        number = e164(value, f"{where}.{key}[{n}]", phones)
        if number in found:
            raise Invalid(f"{where}.{key}[{n}]", f"{number} is listed twice")
        found[number] = None
    return tuple(found)


def _list(item: Mapping[str, Any], key: str, most: int, prefix: str = "") -> list[Any]:
    value = item.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid(f"{prefix}{key}", f"{prefix}{key} must be a list")
    if len(value) > most:
        raise Invalid(f"{prefix}{key}", f"{prefix}{key} may hold at most {most} entries")
    return value


def _whole(item: Mapping[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = item.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Invalid(key, f"{key} must be a whole number from {low} to {high}")
    return value


def _text(item: Mapping[str, Any], key: str, most: int, prefix: str = "") -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"{prefix}{key}", f"{prefix}{key} must be a string")
    value = value.strip()
    if len(value) > most:
        raise Invalid(f"{prefix}{key}", f"{prefix}{key} may be at most {most} characters")
    return value or None


def _origin(value: Any, where: str) -> str:
    origin = normalized_origin(value) if isinstance(value, str) else None
    if origin is None:
        raise Invalid(where, f"{where} must be an origin like https://clinic.example (no path)")
    return origin


def normalized_origin(value: str) -> str | None:
    """An origin as browsers send it in ``Origin`` (scheme and host in lower case, the port only when not
    the scheme's own), or None when ``value`` is no http(s) origin."""
    text = value.strip().rstrip("/")
    if len(text) > 300 or _ORIGIN.fullmatch(text) is None:
        return None
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if not host:
        return None
    scheme = parts.scheme.lower()
    default = 443 if scheme == "https" else 80
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + (f":{port}" if port not in (None, default) else "")
