"""What a process remembers of the playbacks it recorded, so that a player's seeks skip the database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from recordings.audit import Access, RecentPlaybacks

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def access(recording_id: str = "rec1", who: str = "anna", address: str = "10.0.0.5") -> Access:
    return Access(recording_id, "call1", who, "manager", "session", "play", address, None, None)


def test_only_what_was_recorded_lately_by_the_same_person_and_address() -> None:
    recent = RecentPlaybacks()
    assert not recent.recorded_lately(access(), NOW)
    recent.remember(access(), NOW)
    assert recent.recorded_lately(access(), NOW + timedelta(minutes=9, seconds=59))
    assert not recent.recorded_lately(access(), NOW + timedelta(minutes=10))
    assert not recent.recorded_lately(access(who="boris"), NOW)
    assert not recent.recorded_lately(access(address="10.0.0.6"), NOW)
    assert not recent.recorded_lately(access(recording_id="rec2"), NOW)


def test_memory_is_bounded_forgetting_the_oldest_first() -> None:
    recent = RecentPlaybacks(max_keys=2)
    recent.remember(access("a"), NOW)
    recent.remember(access("b"), NOW)
    recent.remember(access("a"), NOW)  # a is the most recent again
    recent.remember(access("c"), NOW)
    assert recent.recorded_lately(access("a"), NOW) and recent.recorded_lately(access("c"), NOW)
    assert not recent.recorded_lately(access("b"), NOW), "forgotten: the database answers for it"
