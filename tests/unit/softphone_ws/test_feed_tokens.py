"""Feed tokens: pure, with an injected clock."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest

from softphone_ws.feed_tokens import FeedGrant, TokenRejected, issue, verify

SECRET = b"feed-test-secret"
NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)


def make_token(role: str = "operator", extensions: tuple[str, ...] = ("101",), ttl: int = 60) -> str:
    return issue(SECRET, subject="user:7", role=role, extensions=extensions, now=NOW, ttl_seconds=ttl)


def test_a_good_token_gives_its_grant() -> None:
    grant = verify(SECRET, make_token(extensions=("101", "102")), now=NOW + timedelta(seconds=59))
    assert grant == FeedGrant(
        subject="user:7", role="operator", extensions=("101", "102"), expires_at=NOW + timedelta(seconds=60)
    )


def test_an_expired_token_is_rejected_as_expired() -> None:
    with pytest.raises(TokenRejected) as rejected:
        verify(SECRET, make_token(ttl=60), now=NOW + timedelta(seconds=60))
    assert rejected.value.reason == "expired"


def test_a_token_signed_with_another_secret_is_bad() -> None:
    token = issue(b"other", subject="user:7", role="admin", extensions=(), now=NOW)
    with pytest.raises(TokenRejected) as rejected:
        verify(SECRET, token, now=NOW)
    assert rejected.value.reason == "bad"


def test_tampered_claims_are_bad() -> None:
    claims_part, signature = make_token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(claims_part + "=" * (-len(claims_part) % 4)))
    claims["role"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenRejected) as rejected:
        verify(SECRET, f"{forged}.{signature}", now=NOW)
    assert rejected.value.reason == "bad"


@pytest.mark.parametrize(
    "garbage",
    ["", ".", "abc", "a.b.c", "e30.", "ünïcode.sig", "x" * 10_000, "e30.!!!!"],
)
def test_garbage_is_bad(garbage: str) -> None:
    with pytest.raises(TokenRejected) as rejected:
        verify(SECRET, garbage, now=NOW)
    assert rejected.value.reason == "bad"


def test_a_tampered_signature_is_bad_even_when_expired() -> None:
    token = make_token()
    tampered = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    with pytest.raises(TokenRejected) as rejected:
        verify(SECRET, tampered, now=NOW + timedelta(days=1))
    assert rejected.value.reason == "bad"


def test_only_a_token_issued_for_every_call_grants_every_call() -> None:
    everything = issue(SECRET, subject="olga", role="manager", extensions=(), now=NOW, every_call=True)
    assert verify(SECRET, everything, now=NOW).every_call is True
    assert verify(SECRET, make_token(role="manager"), now=NOW).every_call is False


def test_ttl_is_bounded() -> None:
    with pytest.raises(ValueError, match="ttl"):
        make_token(ttl=0)
    with pytest.raises(ValueError, match="ttl"):
        make_token(ttl=86_400)


def test_a_token_names_the_credential_it_was_minted_from_and_it_cannot_be_swapped() -> None:
    token = issue(SECRET, subject="anna", role="operator", extensions=(), now=NOW, credential="login:u1:tag")
    assert verify(SECRET, token, now=NOW).credential == "login:u1:tag"
    assert verify(SECRET, make_token(), now=NOW).credential is None
    claims_part, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(claims_part + "=" * (-len(claims_part) % 4)))
    claims["cred"] = "login:u1:another-login"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenRejected):
        verify(SECRET, f"{forged}.{signature}", now=NOW)
