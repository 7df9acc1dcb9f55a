"""API tokens: random secrets shown once, stored only as SHA-256 hashes, each with one role."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kolokol.auth.roles import ROLES
from kolokol.storage.tables import ApiToken

_PREFIX = "kk_"


def _hash(token: str) -> str:
    # Tokens are long random strings, so a fast hash is enough: there is nothing to brute-force.
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(session: AsyncSession, *, name: str, role: str) -> str:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; choose one of {', '.join(ROLES)}")
    token = _PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, role=role, token_hash=_hash(token), created_at=datetime.now(UTC)))
    await session.flush()
    return token


async def find_token(session: AsyncSession, token: str) -> ApiToken | None:
    if not token.startswith(_PREFIX) or len(token) > 200:
        return None
    found = await session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash(token)))
    if found is None or found.revoked_at is not None:
        return None
    return found
