"""Failed-login limits: a sliding minute per username and per address, in bounded memory."""

from __future__ import annotations

from kolokol.auth.login_limit import LoginLimiter

ANNA = ("user:anna", "addr:10.0.0.5")


def test_the_limit_counts_failures_in_the_last_minute() -> None:
    limiter = LoginLimiter(3)
    for second in (0, 10, 20):
        assert not limiter.blocked(ANNA, second)
        limiter.failed(ANNA, second)
    assert limiter.blocked(ANNA, 30)
    assert limiter.blocked(ANNA, 59.9)
    assert not limiter.blocked(ANNA, 60.1), "the oldest failure left the window"
    limiter.failed(ANNA, 61)
    assert limiter.blocked(ANNA, 62)


def test_a_username_is_limited_across_addresses_and_an_address_across_usernames() -> None:
    limiter = LoginLimiter(2)
    limiter.failed(("user:anna", "addr:a"), 0)
    limiter.failed(("user:anna", "addr:b"), 1)
    assert limiter.blocked(("user:anna", "addr:c"), 2)
    assert not limiter.blocked(("user:boris", "addr:c"), 2)
    assert not limiter.blocked(("user:boris", "addr:a"), 2)
    limiter.failed(("user:boris", "addr:a"), 2)
    assert limiter.blocked(("user:olga", "addr:a"), 3)


def test_success_forgives_the_account_but_not_the_address() -> None:
    limiter = LoginLimiter(2)
    limiter.failed(ANNA, 0)
    limiter.failed(ANNA, 1)
    limiter.succeeded("user:anna")
    assert not limiter.blocked(("user:anna", "addr:elsewhere"), 2)
    assert limiter.blocked(ANNA, 2)


def test_memory_stays_bounded_under_a_flood_of_names() -> None:
    limiter = LoginLimiter(5, max_keys=100)
    for n in range(10_000):
        limiter.failed((f"user:{n}", "addr:flood"), n / 1000)
    assert len(limiter) <= 100
    assert limiter.blocked(("user:new", "addr:flood"), 10), "the flooding address itself stays blocked"


def test_quiet_keys_are_dropped() -> None:
    limiter = LoginLimiter(5)
    limiter.failed(ANNA, 0)
    assert len(limiter) == 2
    assert not limiter.blocked(ANNA, 120)
    assert len(limiter) == 0
