"""Who may hear a recording, and which requests for it count as a playback in the audit log. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Literal

from kolokol.auth.roles import SUPERVISOR_ROLES

OperatorsListen = Literal["all", "own", "none"]
# A player seeking sends a new Range request at every jump; they are one playback when they come from
# the same person and address within this long.
SAME_PLAYBACK = timedelta(minutes=10)


def call_phones(
    operator: str | None, answered_by: str | None, rang: Iterable[str], caller: str, called: str
) -> frozenset[str]:
    """What a call was on: the operator's phone, the one that answered, the ones that rang, and the two
    ends (an extension's own outgoing and internal calls). The call log's operator scope is the same
    (kolokol.calls.call_scope): a call an operator sees listed is one they may hear."""
    return frozenset(p for p in (operator, answered_by, *rang, caller, called) if p)


def may_listen(
    role: str, extensions: Iterable[str], *, operators_listen: OperatorsListen, phones: frozenset[str]
) -> bool:
    """Admins and managers hear every recording; operators as ``recordings.operators_listen`` says
    ("own": a call that was on one of their phones); nobody else (marketers, the CRM's tokens: they get
    signed links)."""
    if role in SUPERVISOR_ROLES:
        return True
    if role != "operator" or operators_listen == "none":
        return False
    return operators_listen == "all" or not phones.isdisjoint(extensions)


def from_the_start(range_start: int | None) -> bool:
    """A request without a range, or from the first byte: always a new playback."""
    return range_start is None or range_start == 0


def starts_playback(range_start: int | None, last_access: datetime | None, now: datetime) -> bool:
    """Whether a request for the audio is a new playback (one audit row) rather than a seek within one
    already recorded: one from the start always is; a later range only when the same person at the same
    address has not been recorded for this recording lately (``last_access``)."""
    if from_the_start(range_start):
        return True
    return last_access is None or now - last_access >= SAME_PLAYBACK
