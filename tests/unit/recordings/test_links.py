"""Signed recording links (recordings.links): made with the key, checked by any node, good until expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from recordings.links import MAX_TTL_SECONDS, LinkState, check, effective_ttl, sign

KEY = b"k" * 32
NOW = datetime(2026, 12, 3, 12, 0, 0, tzinfo=UTC)


def parts(path: str) -> tuple[str, str, str]:
    assert path.startswith("/r/")
    rid, expires, signature = path[len("/r/") :].split("/")
    return rid, expires, signature


def test_a_link_is_valid_until_it_expires() -> None:
    link = sign(KEY, "rec1", now=NOW, ttl_seconds=3600)
    assert link.expires_at == NOW + timedelta(hours=1)
    rid, expires, signature = parts(link.path)
    assert (rid, int(expires)) == ("rec1", int(link.expires_at.timestamp()))
    assert check(KEY, rid, expires, signature, now=NOW) is LinkState.VALID
    almost = link.expires_at - timedelta(microseconds=1)
    assert check(KEY, rid, expires, signature, now=almost) is LinkState.VALID
    assert check(KEY, rid, expires, signature, now=link.expires_at) is LinkState.EXPIRED


def test_a_fraction_of_a_second_rounds_the_expiry_up() -> None:
    link = sign(KEY, "rec1", now=NOW + timedelta(milliseconds=400), ttl_seconds=10)
    assert link.expires_at == NOW + timedelta(seconds=11)


def test_altered_links_are_invalid_even_when_also_expired() -> None:
    rid, expires, signature = parts(sign(KEY, "rec1", now=NOW, ttl_seconds=60).path)
    later = NOW + timedelta(days=30)
    # Another recording, a moved expiry, a changed signature, another key: all invalid, never "expired".
    assert check(KEY, "rec2", expires, signature, now=NOW) is LinkState.INVALID
    assert check(KEY, rid, str(int(expires) + 86400), signature, now=NOW) is LinkState.INVALID
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert check(KEY, rid, expires, flipped, now=NOW) is LinkState.INVALID
    assert check(b"x" * 32, rid, expires, signature, now=NOW) is LinkState.INVALID
    assert check(KEY, "rec2", expires, signature, now=later) is LinkState.INVALID
    assert check(KEY, rid, expires, signature, now=later) is LinkState.EXPIRED


@pytest.mark.parametrize(
    ("expires", "signature"),
    [("-1", "a" * 43), ("1e9", "a" * 43), ("9" * 13, "a" * 43), ("123", "a" * 42), ("123", "a/" * 21 + "a")],
)
def test_malformed_parts_are_invalid(expires: str, signature: str) -> None:
    assert check(KEY, "rec1", expires, signature, now=NOW) is LinkState.INVALID


def test_the_lifetime_is_the_default_or_the_one_asked_capped_at_a_week() -> None:
    assert effective_ttl(None, 3600) == 3600
    assert effective_ttl(60, 3600) == 60
    assert effective_ttl(30 * 24 * 3600, 3600) == MAX_TTL_SECONDS
