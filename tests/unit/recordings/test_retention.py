"""Which recordings are due for purge: days per branch, 0 keeps forever."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recordings.retention import Cutoff, cutoffs, is_due

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_the_default_applies_to_unlisted_branches_and_calls_without_one() -> None:
    old = NOW - timedelta(days=366)
    assert is_due(None, old, 365, {}, NOW)
    assert is_due("North", old, 365, {"Center": 30}, NOW)
    assert not is_due(None, NOW - timedelta(days=364), 365, {}, NOW)


def test_a_listed_branch_keeps_its_own_days_longer_or_shorter() -> None:
    by_branch = {"Center": 30, "Archive": 0}
    assert is_due("Center", NOW - timedelta(days=31), 365, by_branch, NOW)
    assert not is_due("Archive", NOW - timedelta(days=5000), 365, by_branch, NOW)


def test_zero_days_keeps_forever() -> None:
    assert not is_due(None, NOW - timedelta(days=10_000), 0, {}, NOW)
    assert cutoffs(0, {}, NOW) == []


def test_cutoffs_select_in_bulk_what_is_due_says_one_by_one() -> None:
    rules = cutoffs(365, {"Center": 30, "South": 30, "Archive": 0}, NOW)
    assert rules == [
        Cutoff(NOW - timedelta(days=365), None, ("Archive", "Center", "South")),
        Cutoff(NOW - timedelta(days=30), ("Center", "South")),
    ]
