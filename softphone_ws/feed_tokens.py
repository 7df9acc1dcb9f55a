"""Short-lived feed tokens: what the HTTP app hands a logged-in user so the browser can open the feed.

Pure (no I/O, no clock of its own): `now` is always passed in, so expiry is testable and the same on
every node. Format: base64url(JSON claims) "." base64url(HMAC-SHA256(secret, first part)), no padding.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

MAX_TTL_SECONDS = 3600
# A real token is ~200 characters; refusing huge ones keeps garbage from costing an HMAC and a JSON parse.
MAX_TOKEN_CHARS = 4096

RejectReason = Literal["bad", "expired"]


class TokenRejected(Exception):
    def __init__(self, reason: RejectReason) -> None:
        super().__init__(reason)
        self.reason: RejectReason = reason


@dataclass(frozen=True)
class FeedGrant:
    """What a token allows: who holds it (and their role, for the record), and which calls they may see:
    every call, or those of their own extensions (and any queue). Who gets which is the issuer's call."""

    subject: str
    role: str
    extensions: tuple[str, ...]
    expires_at: datetime
    # The web page origin the token was issued to: a browser connecting from there needs no configured
    # allowed origin (a console reached at any address just works; other sites still cannot connect).
    origin: str | None = None
    every_call: bool = False
    # What the token was minted from (a login, an API token), in the issuer's own opaque words: the
    # feed server asks the issuer whether it still stands, on connect and every few seconds after.
    credential: str | None = None


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: bytes, claims_part: str) -> bytes:
    return hmac.new(secret, claims_part.encode("ascii"), hashlib.sha256).digest()


def issue(
    secret: bytes,
    *,
    subject: str,
    role: str,
    extensions: tuple[str, ...],
    now: datetime,
    ttl_seconds: int = 60,
    origin: str | None = None,
    every_call: bool = False,
    credential: str | None = None,
) -> str:
    if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError("ttl_seconds must be between 1 and 3600")
    if not secret:
        raise ValueError("empty secret")
    claims: dict[str, object] = {
        "sub": subject,
        "role": role,
        "ext": list(extensions),
        "exp": int(now.timestamp()) + ttl_seconds,
    }
    if origin is not None:
        claims["org"] = origin
    if every_call:
        claims["all"] = True
    if credential is not None:
        claims["cred"] = credential
    claims_part = _b64encode(json.dumps(claims, separators=(",", ":"), sort_keys=True).encode())
    return f"{claims_part}.{_b64encode(_signature(secret, claims_part))}"


def verify(secret: bytes, token: str, *, now: datetime) -> FeedGrant:
    grant = _verified(secret, token)
    if now >= grant.expires_at:
        raise TokenRejected("expired")
    return grant


def signed_origin(secret: bytes, token: str) -> str | None:
    """The origin a genuine token (expired or not) was issued to; None for anything else.

    Expiry is ignored on purpose: the origin check runs before the handshake, and an expired token must
    still reach the handshake so the browser sees 4408 ("get a new token"), not a refused connection.
    """
    try:
        return _verified(secret, token).origin
    except TokenRejected:
        return None


def _verified(secret: bytes, token: str) -> FeedGrant:
    if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise TokenRejected("bad")
    claims_part, signature_part = token.split(".")
    try:
        claims_part.encode("ascii")
        signature = _b64decode(signature_part)
    except (UnicodeEncodeError, binascii.Error, ValueError):
        raise TokenRejected("bad") from None
    # Constant-time comparison, and before parsing anything an attacker wrote.
    if not hmac.compare_digest(signature, _signature(secret, claims_part)):
        raise TokenRejected("bad")
    return _grant_from_claims(claims_part)


def _grant_from_claims(claims_part: str) -> FeedGrant:
    # The signature matched, so malformed claims mean a bug or a leaked secret: still reject, never crash.
    try:
        claims = json.loads(_b64decode(claims_part))
    except (binascii.Error, ValueError):
        raise TokenRejected("bad") from None
    if not isinstance(claims, dict):
        raise TokenRejected("bad")
    subject, role, extensions, expiry = (claims.get(key) for key in ("sub", "role", "ext", "exp"))
    origin = claims.get("org")
    every_call = claims.get("all", False)
    credential = claims.get("cred")
    if (
        not isinstance(origin, str | None)
        or not isinstance(credential, str | None)
        or not isinstance(subject, str)
        or not isinstance(role, str)
        or type(every_call) is not bool
        or not isinstance(extensions, list)
        or not all(isinstance(extension, str) for extension in extensions)
        or type(expiry) is not int
    ):
        raise TokenRejected("bad")
    return FeedGrant(
        subject=subject,
        role=role,
        extensions=tuple(extensions),
        expires_at=datetime.fromtimestamp(expiry, tz=UTC),
        origin=origin,
        every_call=every_call,
        credential=credential,
    )
