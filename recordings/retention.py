"""Which recordings are old enough to purge (pure).

``retention_days`` applies to every branch not listed in ``retention_days_by_branch``, which gives a branch
its own number of days; 0 keeps forever. Age counts from the call's start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Cutoff:
    """Recordings of these branches (``branches``; None: every branch but ``except_branches``, and calls
    without a branch) whose call started before ``before`` are due."""

    before: datetime
    branches: tuple[str, ...] | None = None
    except_branches: tuple[str, ...] = ()


def cutoffs(default_days: int, days_by_branch: Mapping[str, int], now: datetime) -> list[Cutoff]:
    listed = tuple(sorted(days_by_branch))
    rules: list[Cutoff] = []
    if default_days > 0:
        rules.append(Cutoff(now - timedelta(days=default_days), None, listed))
    by_days: dict[int, list[str]] = {}
    for branch, days in days_by_branch.items():
        if days > 0:
            by_days.setdefault(days, []).append(branch)
    for days, branches in sorted(by_days.items()):
        rules.append(Cutoff(now - timedelta(days=days), tuple(sorted(branches))))
    return rules


def is_due(
    branch: str | None,
    call_started_at: datetime,
    default_days: int,
    days_by_branch: Mapping[str, int],
    now: datetime,
) -> bool:
    """The same rule for one recording (what ``cutoffs`` selects in bulk)."""
    days = days_by_branch.get(branch, default_days) if branch is not None else default_days
    return days > 0 and call_started_at < now - timedelta(days=days)
