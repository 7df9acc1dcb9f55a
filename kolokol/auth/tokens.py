"""API tokens: random secrets shown once, stored only as SHA-256 hashes, each with one role and, when
asked for, an expiry. Listed and revoked by id (``kolokol token ...``); functions work inside the
caller's transaction, and the clock is always passed in.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kolokol.auth.roles import ROLES
from kolokol.storage.tables import ApiToken

_PREFIX = "kk_"
_MAX_TOKEN_CHARS = 200
_MAX_NAME_CHARS = 200
# Ids are 32 hex digits; a shorter unique start of one is enough to name it (like a git commit).
MIN_ID_PREFIX = 6

TokenState = Literal["active", "expired", "revoked"]


class TokenError(ValueError):
    """A request about tokens that cannot be done; the message is meant for the person who asked."""


class TokenRefused(Exception):
    """The presented token does not authenticate; `message` says why, for the caller."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True, slots=True)
class NewToken:
    id: str
    secret: str
    expires_at: datetime | None


def _hash(token: str) -> str:
    # Tokens are long random strings, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


def token_state(token: ApiToken, now: datetime) -> TokenState:
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at is not None and now >= token.expires_at:
        return "expired"
    return "active"


async def create_token(
    session: AsyncSession,
    *,
    name: str,
    role: str,
    now: datetime | None = None,
    expires_at: datetime | None = None,
) -> str:
    """A new token's secret (the one time it is seen)."""
    made = await issue_token(
        session, name=name, role=role, now=now or datetime.now(UTC), expires_at=expires_at
    )
    return made.secret


async def issue_token(
    session: AsyncSession,
    *,
    name: str,
    role: str,
    now: datetime,
    expires_at: datetime | None = None,
) -> NewToken:
    if role not in ROLES:
        raise TokenError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    name = name.strip()
    if not name or len(name) > _MAX_NAME_CHARS or not name.isprintable():
        raise TokenError(f"a token's name is 1-{_MAX_NAME_CHARS} printable characters")
    if expires_at is not None and expires_at <= now:
        raise TokenError("the expiry must be in the future")
    secret = _PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, role=role, token_hash=_hash(secret), created_at=now, expires_at=expires_at)
    session.add(row)
    await session.flush()
    return NewToken(id=row.id, secret=secret, expires_at=expires_at)


async def find_token(session: AsyncSession, token: str, *, now: datetime) -> ApiToken:
    """The active token behind `token`; `TokenRefused` saying why otherwise."""
    if not token.startswith(_PREFIX) or len(token) > _MAX_TOKEN_CHARS or not token.isascii():
        raise TokenRefused("the token is unknown")
    found = await session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token)))
    if found is None:
        raise TokenRefused("the token is unknown")
    state = token_state(found, now)
    if state == "revoked":
        raise TokenRefused("the token was revoked")
    if state == "expired":
        assert found.expires_at is not None
        raise TokenRefused(f"the token expired at {found.expires_at:%Y-%m-%d %H:%M} UTC; ask for a new one")
    return found


async def list_tokens(session: AsyncSession) -> list[ApiToken]:
    """Every token ever made (revoked ones too: their names say what they were for), oldest first."""
    return list((await session.scalars(select(ApiToken).order_by(ApiToken.created_at, ApiToken.id))).all())


async def revoke_token(session: AsyncSession, id_or_prefix: str, *, now: datetime) -> tuple[ApiToken, bool]:
    """Revoke the token whose id is or starts with `id_or_prefix`; returns it and whether this call
    revoked it (False: it already was). `TokenError` when no single token matches."""
    wanted = id_or_prefix.strip().lower()
    if len(wanted) < MIN_ID_PREFIX or not all(c in "0123456789abcdef" for c in wanted):
        raise TokenError(
            f"name a token by its id (at least {MIN_ID_PREFIX} of its hex digits; kolokol token list)"
        )
    matches = (
        await session.scalars(
            select(ApiToken).where(ApiToken.id.startswith(wanted)).with_for_update().limit(2)
        )
    ).all()
    if not matches:
        raise TokenError(f"no token {wanted}")
    if len(matches) > 1:
        raise TokenError(f"{wanted} starts more than one token id; give more of it")
    token = matches[0]
    if token.revoked_at is not None:
        return token, False
    token.revoked_at = now
    await session.flush()
    return token, True
