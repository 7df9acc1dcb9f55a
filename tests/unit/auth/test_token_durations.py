"""`kolokol token create --expires-in`: how long a token lives, as people write it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from kolokol.auth.token_cli import parse_duration


def test_durations_people_write() -> None:
    assert parse_duration("90d") == timedelta(days=90)
    assert parse_duration(" 12H ") == timedelta(hours=12)
    assert parse_duration("30m") == timedelta(minutes=30)
    assert parse_duration("2w") == timedelta(weeks=2)


@pytest.mark.parametrize("bad", ["", "d", "90", "1.5d", "-1d", "0h", "90 days", "١٢h", "9" * 5000 + "d"])
def test_anything_else_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(bad)


def test_at_most_ten_years() -> None:
    assert parse_duration("3650d") == timedelta(days=3650)
    with pytest.raises(ValueError, match="10 years"):
        parse_duration("600w")
