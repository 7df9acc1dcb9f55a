"""Login sessions: a random secret in the browser's cookie, only its SHA-256 in the database.

A session ends after `idle` without requests or `max_age` after login, whichever comes first. The
clock is always passed in (`now`), so tests move time and every node agrees. Functions work inside
the caller's transaction.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from kolokol.settings import WebSettings
from kolokol.storage.tables import User, WebSession

# Sliding the idle deadline costs a write; once a minute is precise enough for a 12-hour idle limit.
SLIDE_EVERY = timedelta(minutes=1)
# token_urlsafe(32) gives 43 characters; anything much longer is not ours and costs no lookup.
_MAX_SECRET_CHARS = 128
_USER_AGENT_CHARS = 200
_REMOTE_CHARS = 64


@dataclass(frozen=True, slots=True)
class SessionPolicy:
    idle: timedelta
    max_age: timedelta

    @classmethod
    def from_settings(cls, settings: WebSettings) -> SessionPolicy:
        return cls(
            idle=timedelta(minutes=settings.session_idle_minutes),
            max_age=timedelta(hours=settings.session_max_hours),
        )


@dataclass(frozen=True, slots=True)
class LiveSession:
    """A session that is valid right now, with its (active) user."""

    id: str
    csrf_token: str
    expires_at: datetime
    user: User


def session_id(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


async def create_session(
    session: AsyncSession,
    user: User,
    *,
    now: datetime,
    policy: SessionPolicy,
    remote_addr: str | None = None,
    user_agent: str | None = None,
) -> tuple[str, LiveSession]:
    """Start a session for `user`; returns the secret for the cookie (shown nowhere else) and the session."""
    secret = secrets.token_urlsafe(32)
    row = WebSession(
        id=session_id(secret),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + policy.max_age,
        remote_addr=remote_addr[:_REMOTE_CHARS] if remote_addr else None,
        user_agent=user_agent[:_USER_AGENT_CHARS] if user_agent else None,
    )
    session.add(row)
    await session.flush()
    return secret, LiveSession(id=row.id, csrf_token=row.csrf_token, expires_at=row.expires_at, user=user)


def session_expired(
    expires_at: datetime, last_seen_at: datetime, *, now: datetime, policy: SessionPolicy
) -> bool:
    """Past its absolute end, or idle for too long."""
    return now >= expires_at or now >= last_seen_at + policy.idle


async def find_session(
    session: AsyncSession, secret: str, *, now: datetime, policy: SessionPolicy
) -> LiveSession | None:
    """The live session behind a cookie value, or None (unknown, expired, or its user is disabled)."""
    if not secret or len(secret) > _MAX_SECRET_CHARS or not secret.isascii():
        return None
    row = await session.scalar(select(WebSession).where(WebSession.id == session_id(secret)))
    if row is None:
        return None
    if session_expired(row.expires_at, row.last_seen_at, now=now, policy=policy):
        await session.delete(row)
        return None
    if not row.user.active:
        return None
    if now - row.last_seen_at >= SLIDE_EVERY:
        # Conditional, so two requests sliding at once do not move the deadline backwards.
        await session.execute(
            update(WebSession)
            .where(WebSession.id == row.id, WebSession.last_seen_at < now)
            .values(last_seen_at=now)
        )
    return LiveSession(id=row.id, csrf_token=row.csrf_token, expires_at=row.expires_at, user=row.user)


async def delete_session(session: AsyncSession, secret: str) -> None:
    """Log out: the cookie's secret stops working even if the browser keeps it."""
    if secret and len(secret) <= _MAX_SECRET_CHARS and secret.isascii():
        await session.execute(delete(WebSession).where(WebSession.id == session_id(secret)))


async def delete_user_sessions(session: AsyncSession, user_id: str) -> int:
    """Log a user out everywhere (password changed, account disabled); returns how many ended."""
    result = await session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    return int(getattr(result, "rowcount", 0) or 0)


async def purge_expired(session: AsyncSession, *, now: datetime, policy: SessionPolicy) -> int:
    """Delete sessions past either deadline; returns how many."""
    result = await session.execute(
        delete(WebSession).where(
            or_(WebSession.expires_at <= now, WebSession.last_seen_at <= now - policy.idle)
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
