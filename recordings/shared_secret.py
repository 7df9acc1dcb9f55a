"""A secret generated once and kept in the database (``app_secrets``), the same for every node."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kolokol.storage.tables import AppSecret


async def shared_secret(sessions: async_sessionmaker[AsyncSession], name: str, *, now: datetime) -> str:
    """The secret called ``name``, made the first time it is asked for. Two nodes making it at once
    both end up with the one that was stored first."""
    async with sessions() as session:
        value = await session.scalar(select(AppSecret.value).where(AppSecret.name == name))
    if value is not None:
        return value
    try:
        async with sessions.begin() as session:
            session.add(AppSecret(name=name, value=secrets.token_urlsafe(48), created_at=now))
    except IntegrityError:
        pass  # another node stored it first: theirs is the one
    async with sessions() as session:
        stored = await session.scalar(select(AppSecret.value).where(AppSecret.name == name))
    if stored is None:
        raise RuntimeError(f"the secret {name!r} was neither found nor stored")
    return stored
