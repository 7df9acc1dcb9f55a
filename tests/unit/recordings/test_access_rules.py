"""Who may hear a recording, and which requests are a new playback in the audit (recordings.access_rules)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recordings.access_rules import OperatorsListen, call_phones, may_listen, starts_playback

PHONES = call_phones("101", "102", ["101", "103"], "+79161234567", "+74951110001")


def test_a_calls_phones_are_the_operators_the_answerers_those_that_rang_and_its_ends() -> None:
    assert sorted(PHONES) == ["+74951110001", "+79161234567", "101", "102", "103"]
    internal = call_phones(None, None, [], "104", "105")
    assert sorted(internal) == ["104", "105"]
    assert call_phones(None, None, [], "", "") == frozenset()


@pytest.mark.parametrize("setting", ["all", "own", "none"])
def test_supervisors_hear_everything_marketers_and_integrations_nothing(setting: OperatorsListen) -> None:
    for role in ("admin", "manager"):
        assert may_listen(role, (), operators_listen=setting, phones=PHONES)
    for role in ("marketer", "integration"):
        assert not may_listen(role, ("101",), operators_listen=setting, phones=PHONES)


def test_operators_hear_as_the_setting_says() -> None:
    own, other = ("103", "200"), ("200",)
    assert may_listen("operator", own, operators_listen="own", phones=PHONES)
    assert not may_listen("operator", other, operators_listen="own", phones=PHONES)
    assert not may_listen("operator", (), operators_listen="own", phones=frozenset())
    assert may_listen("operator", other, operators_listen="all", phones=PHONES)
    assert not may_listen("operator", own, operators_listen="none", phones=PHONES)


NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_from_the_start_is_always_a_playback_a_seek_only_after_a_quiet_while() -> None:
    recent = NOW - timedelta(minutes=3)
    assert starts_playback(None, recent, NOW)
    assert starts_playback(0, recent, NOW)
    assert not starts_playback(123_456, recent, NOW), "a seek within a playback"
    assert starts_playback(123_456, None, NOW), "a first request in the middle (a resumed download)"
    assert starts_playback(123_456, NOW - timedelta(minutes=10), NOW)
