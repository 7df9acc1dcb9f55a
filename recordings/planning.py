"""Whether a stored call needs a recording row, and what changes on a row already planned (pure).

Only answered calls have a recording worth keeping: an Asterisk call with a MixMonitor file name, or a cloud
PBX call with the provider's reference. A row still pending follows a changed reference (the Telnyx or
Twilio recording webhook arrives after the call's end) and becomes due at once; a row that is ready,
failed or purged is never reset by the same call stored again (a replay must not refetch or resurrect).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

ASTERISK = "asterisk"
CLOUD_ORIGINS = frozenset({"mango_office", "zadarma", "megafon_vats", "twilio", "telnyx", "generic"})


class CallFacts(Protocol):
    @property
    def pbx(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def recording_file(self) -> str | None: ...
    @property
    def recording_ref(self) -> dict[str, Any] | None: ...
    @property
    def branch(self) -> str | None: ...
    @property
    def started_at(self) -> datetime: ...


class PlannedRow(Protocol):
    @property
    def status(self) -> str: ...
    @property
    def origin(self) -> str: ...
    @property
    def ref(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Create:
    origin: str
    ref: dict[str, Any]


@dataclass(frozen=True)
class Refresh:
    """The reference changed on a row not finished yet: take the new one and try again now."""

    origin: str
    ref: dict[str, Any]


@dataclass(frozen=True)
class Keep:
    """Nothing to acquire anew; the row only follows the call's branch and start."""


Plan = Create | Refresh | Keep | None


def wanted(call: CallFacts) -> tuple[str, dict[str, Any]] | None:
    """The origin and reference of the call's recording, or None when it has none to collect."""
    if call.status != "answered":
        return None
    if call.recording_ref:
        origin = str(call.recording_ref.get("provider") or call.pbx)
        return (origin if origin in CLOUD_ORIGINS else "generic"), dict(call.recording_ref)
    if call.recording_file and call.recording_file.strip():
        return ASTERISK, {"file": call.recording_file}
    return None


def plan(call: CallFacts, existing: PlannedRow | None) -> Plan:
    """What to do with the call's recording row (None: the call has no row and needs none)."""
    target = wanted(call)
    if existing is None:
        return Create(*target) if target is not None else None
    if existing.status != "pending" or target is None:
        return Keep()
    origin, ref = target
    if (origin, ref) != (existing.origin, existing.ref):
        return Refresh(origin, ref)
    return Keep()
