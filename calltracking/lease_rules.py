"""The arithmetic of a lease and what a visitor is shown: pure, no I/O (the SQL is in lease_engine).

A lease is *unconfirmed* until the page's first heartbeat and lasts ``min(hold, 2 × heartbeat)`` then:
a bot that opens sessions and never heartbeats frees its numbers within a minute or so. Each heartbeat
moves its end to ``min(now + hold, started + max_lease)``. An end never moves back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from calltracking.visit_source import VisitSource

# Keys a source number's "match" may name, compared without regard to case.
MATCH_KEYS = ("channel", "source", "medium", "campaign")


@dataclass(frozen=True, slots=True)
class LeaseTimes:
    hold_seconds: int
    heartbeat_seconds: int
    max_lease_seconds: int

    @property
    def unconfirmed_seconds(self) -> int:
        return min(self.hold_seconds, 2 * self.heartbeat_seconds)

    def first_end(self, now: datetime, *, confirmed: bool) -> datetime:
        """The end of a lease starting now: short while unconfirmed."""
        span = self.hold_seconds if confirmed else self.unconfirmed_seconds
        return min(now + timedelta(seconds=span), now + timedelta(seconds=self.max_lease_seconds))

    def renewed_end(
        self, started: datetime, current_end: datetime, now: datetime, *, confirmed: bool
    ) -> datetime:
        """The end of a live lease renewed now (a heartbeat: confirmed; a page re-opening the session:
        as confirmed as the lease already was)."""
        span = self.hold_seconds if confirmed else self.unconfirmed_seconds
        wanted = min(now + timedelta(seconds=span), started + timedelta(seconds=self.max_lease_seconds))
        return max(current_end, wanted)


def session_expired(
    created: datetime, last_seen: datetime, now: datetime, *, idle_seconds: int, max_lease_seconds: int
) -> bool:
    """A session ends when its page has been silent for ``idle_seconds`` or it is older than the site's
    longest lease (a tab left open for a week gets a new session, and its numbers go round)."""
    return now >= last_seen + timedelta(seconds=idle_seconds) or now >= created + timedelta(
        seconds=max_lease_seconds
    )


def same_campaign(stored: VisitSource, fresh: VisitSource) -> bool:
    """Whether a page re-opening a session came from what the session already holds: a visitor who
    comes back through a new ad click (another campaign, another click id) starts a new session."""
    if not _tagged(fresh):
        return True
    keys = ("channel", "source", "medium", "campaign", "gclid", "yclid", "fbclid")
    return all(getattr(stored, key) == getattr(fresh, key) for key in keys)


def _tagged(visit: VisitSource) -> bool:
    return any((visit.gclid, visit.yclid, visit.fbclid, visit.campaign)) or visit.channel in ("paid", "email")


def shown_for_pool(replaces: Sequence[str], shown: str | None) -> dict[str, str]:
    """The page's replaced numbers -> the number to show for them (nothing without one to show)."""
    if not shown:
        return {}
    return {replaced: shown for replaced in replaces if replaced != shown}


def source_numbers_for(entries: Iterable[Mapping[str, Any]], visit: VisitSource) -> dict[str, str]:
    """The site's source-level numbers whose ``match`` fits the visit: replaced number -> number. The
    first matching entry for a replaced number wins."""
    shown: dict[str, str] = {}
    for entry in entries:
        number = entry.get("number")
        match = entry.get("match") or {}
        if not isinstance(number, str) or not isinstance(match, Mapping) or not _fits(match, visit):
            continue
        for replaced in entry.get("replaces") or ():
            if isinstance(replaced, str) and replaced != number:
                shown.setdefault(replaced, number)
    return shown


def _fits(match: Mapping[str, Any], visit: VisitSource) -> bool:
    for key in MATCH_KEYS:
        wanted = match.get(key)
        if wanted is None:
            continue
        actual = getattr(visit, key)
        if actual is None or str(wanted).casefold() != actual.casefold():
            return False
    return True
