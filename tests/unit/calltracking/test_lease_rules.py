"""Lease times, session expiry, what a page is shown, the per-address limiter and the client's address."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from calltracking.lease_rules import (
    LeaseTimes,
    same_campaign,
    session_expired,
    shown_for_pool,
    source_numbers_for,
)
from calltracking.rate_limit import ClientAddress, RateLimiter, retry_after_header
from calltracking.visit_source import VisitSource, classify

T = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
TIMES = LeaseTimes(hold_seconds=300, heartbeat_seconds=30, max_lease_seconds=3600)


def test_an_unconfirmed_lease_lasts_two_heartbeats_a_confirmed_one_the_hold() -> None:
    assert TIMES.first_end(T, confirmed=False) == T + timedelta(seconds=60)
    assert TIMES.first_end(T, confirmed=True) == T + timedelta(seconds=300)
    # A hold shorter than two heartbeats bounds the unconfirmed lease too.
    assert LeaseTimes(45, 30, 600).first_end(T, confirmed=False) == T + timedelta(seconds=45)


def test_renewals_stop_at_the_longest_lease_and_never_move_an_end_back() -> None:
    started = T
    late = T + timedelta(seconds=3500)
    assert TIMES.renewed_end(started, late + timedelta(seconds=10), late, confirmed=True) == T + timedelta(
        hours=1
    )
    current = T + timedelta(seconds=300)
    assert TIMES.renewed_end(started, current, T + timedelta(seconds=1), confirmed=False) == current


def test_a_session_ends_when_idle_or_older_than_the_longest_lease() -> None:
    def expired(created: datetime, seen: datetime, now: datetime) -> bool:
        return session_expired(created, seen, now, idle_seconds=1800, max_lease_seconds=3600)

    assert not expired(T, T + timedelta(minutes=40), T + timedelta(minutes=50))
    assert expired(T, T, T + timedelta(minutes=30))
    assert expired(T, T + timedelta(minutes=59), T + timedelta(minutes=60))


def test_a_new_ad_click_is_another_campaign_an_inner_page_is_not() -> None:
    stored = classify("https://c.example/?utm_source=yandex&utm_medium=cpc&utm_campaign=a&yclid=1", None)
    assert same_campaign(stored, classify("https://c.example/prices", "https://c.example/"))
    assert same_campaign(stored, stored)
    assert not same_campaign(
        stored, classify("https://c.example/?utm_source=yandex&utm_medium=cpc&yclid=2", None)
    )
    assert not same_campaign(
        classify("https://c.example/", None), classify("https://c.example/?gclid=x", None)
    )


def test_a_pool_shows_its_number_for_each_replaced_one_but_never_a_number_for_itself() -> None:
    assert shown_for_pool(("+74951110001", "+74951110002"), "+74951110020") == {
        "+74951110001": "+74951110020",
        "+74951110002": "+74951110020",
    }
    assert shown_for_pool(("+74951110001",), "+74951110001") == {}
    assert shown_for_pool(("+74951110001",), None) == {}


def test_source_numbers_match_the_visit_without_regard_to_case_and_the_first_wins() -> None:
    entries = [
        {
            "number": "+74951110090",
            "replaces": ["+74951110001"],
            "match": {"channel": "paid", "source": "YANDEX"},
        },
        {"number": "+74951110091", "replaces": ["+74951110001"], "match": {}},
        {"number": "+74951110092", "replaces": ["+74951110002"], "match": {"campaign": "x"}},
    ]
    paid = VisitSource("paid", "yandex", "cpc", campaign="y")
    assert source_numbers_for(entries, paid) == {"+74951110001": "+74951110090"}
    assert source_numbers_for(entries, VisitSource("direct")) == {"+74951110001": "+74951110091"}


def test_the_limiter_allows_a_burst_then_one_request_per_share_of_a_minute() -> None:
    limiter = RateLimiter(per_minute=60)
    assert [limiter.take("a", 0.0) for _ in range(15)] == [0.0] * 15
    wait = limiter.take("a", 0.0)
    assert wait == 1.0 and retry_after_header(wait) == "1"
    assert limiter.take("b", 0.0) == 0.0  # another address is not held up
    assert limiter.take("a", 1.0) == 0.0
    assert limiter.take("a", 1.0) > 0


def test_the_limiter_keeps_only_the_most_recent_addresses() -> None:
    limiter = RateLimiter(per_minute=60, max_keys=100)
    for n in range(1000):
        limiter.take(f"10.0.{n // 256}.{n % 256}", float(n))
    assert len(limiter) == 100


def test_forwarded_for_is_taken_only_from_trusted_proxies() -> None:
    proxies = ClientAddress(["10.0.0.0/8", "127.0.0.1"])
    assert proxies.of("127.0.0.1", "203.0.113.5") == "203.0.113.5"
    # The visitor is the last address a trusted hop forwarded for; what the client wrote before it is not.
    assert proxies.of("127.0.0.1", "1.1.1.1, 203.0.113.5, 10.1.2.3") == "203.0.113.5"
    assert proxies.of("198.51.100.7", "203.0.113.5") == "198.51.100.7"
    assert proxies.of("127.0.0.1", "not-an-address") == "127.0.0.1"
    assert proxies.of("127.0.0.1", None) == "127.0.0.1"
    assert ClientAddress([]).of("127.0.0.1", "203.0.113.5") == "127.0.0.1"
    assert ClientAddress([]).of(None, None) == "unknown"
