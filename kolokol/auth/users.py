"""People who log in to the console: accounts, roles, their phones, passwords, authentication.

Each function runs its own transaction. Password hashing runs in a worker thread and outside any
transaction, so neither the event loop nor a database connection waits ~100 ms for scrypt.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from datetime import datetime
from functools import cache

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kolokol.auth import passwords
from kolokol.auth.principal import Principal
from kolokol.auth.roles import USER_ROLES
from kolokol.auth.sessions import delete_user_sessions
from kolokol.settings import LANGUAGES
from kolokol.storage.tables import User

# Roles a person can have (API tokens may also be "integration", which is for machines).
MAX_EXTENSIONS = 50  # the feed accepts at most 50 extensions in one subscription
_USERNAME = re.compile(r"[\w.@+-]{1,64}")
_EXTENSION = re.compile(r"[0-9]{2,8}")
_DISPLAY_NAME_CHARS = 200


class UserError(ValueError):
    """A request about users that cannot be done; the message is meant for the person who asked."""


class NoSuchUser(UserError):
    def __init__(self, username: str) -> None:
        super().__init__(f"no user {username!r}")


def normalize_username(username: str) -> str:
    """The stored spelling: trimmed and lower-cased. Raises `UserError` for unusable names."""
    name = username.strip().lower()
    if not _USERNAME.fullmatch(name):
        raise UserError("a username is 1-64 letters, digits or . _ - @ + (no spaces)")
    return name


def validate_role(role: str) -> str:
    if role not in USER_ROLES:
        raise UserError(f"unknown role {role!r}; choose one of {', '.join(USER_ROLES)}")
    return role


def validate_extensions(extensions: Iterable[str]) -> list[str]:
    """Phones as 2-8 digit strings, duplicates dropped, order kept."""
    result: list[str] = []
    for extension in extensions:
        value = extension.strip()
        if not _EXTENSION.fullmatch(value):
            raise UserError(f"extension {extension[:20]!r} is not 2-8 digits")
        if value not in result:
            result.append(value)
    if len(result) > MAX_EXTENSIONS:
        raise UserError(f"at most {MAX_EXTENSIONS} extensions per user")
    return result


def _validate_language(language: str | None) -> str | None:
    if language is not None and language not in LANGUAGES:
        raise UserError(f"language must be one of {', '.join(LANGUAGES)}")
    return language


def _display_name(display_name: str | None, username: str) -> str:
    name = (display_name or "").strip() or username
    if len(name) > _DISPLAY_NAME_CHARS:
        raise UserError(f"the display name must be at most {_DISPLAY_NAME_CHARS} characters")
    return name


async def _hash(password: str) -> str:
    try:
        return await asyncio.to_thread(passwords.hash_password, password)
    except passwords.PasswordRejected as exc:
        raise UserError(str(exc)) from exc


async def _by_name(session: AsyncSession, username: str, *, for_update: bool = False) -> User:
    name = normalize_username(username)
    stmt = select(User).where(User.username == name)
    user = await session.scalar(stmt.with_for_update() if for_update else stmt)
    if user is None:
        raise NoSuchUser(name)
    return user


async def create_user(
    sessions: async_sessionmaker[AsyncSession],
    *,
    username: str,
    role: str,
    password: str,
    now: datetime,
    display_name: str | None = None,
    extensions: Iterable[str] = (),
    language: str | None = None,
) -> User:
    name = normalize_username(username)
    user = User(
        username=name,
        role=validate_role(role),
        display_name=_display_name(display_name, name),
        extensions=validate_extensions(extensions),
        language=_validate_language(language),
        active=True,
        created_at=now,
        updated_at=now,
        password_changed_at=now,
    )
    user.password_hash = await _hash(password)
    try:
        async with sessions.begin() as session:
            if await session.scalar(select(User.id).where(User.username == name)) is not None:
                raise UserError(f"user {name!r} already exists")
            session.add(user)
    except IntegrityError as exc:
        # Two creations of the same name at once: the unique constraint decides.
        raise UserError(f"user {name!r} already exists") from exc
    return user


async def get_user(sessions: async_sessionmaker[AsyncSession], username: str) -> User:
    async with sessions() as session:
        return await _by_name(session, username)


async def list_users(sessions: async_sessionmaker[AsyncSession]) -> list[User]:
    async with sessions() as session:
        return list((await session.scalars(select(User).order_by(User.username))).all())


async def set_password(
    sessions: async_sessionmaker[AsyncSession], username: str, password: str, *, now: datetime
) -> None:
    """New password; the user's open sessions end, so a stolen session dies with the old password."""
    normalize_username(username)
    password_hash = await _hash(password)
    async with sessions.begin() as session:
        user = await _by_name(session, username, for_update=True)
        user.password_hash = password_hash
        user.password_changed_at = now
        user.updated_at = now
        await delete_user_sessions(session, user.id)


async def set_extensions(
    sessions: async_sessionmaker[AsyncSession], username: str, extensions: Iterable[str], *, now: datetime
) -> list[str]:
    """Replace the user's phones; takes effect on their next request and next feed token."""
    valid = validate_extensions(extensions)
    async with sessions.begin() as session:
        user = await _by_name(session, username, for_update=True)
        user.extensions = valid
        user.updated_at = now
    return valid


async def set_role(
    sessions: async_sessionmaker[AsyncSession], username: str, role: str, *, now: datetime
) -> None:
    """Change the role; sessions read the user on every request, so it applies at once."""
    validate_role(role)
    async with sessions.begin() as session:
        user = await _by_name(session, username, for_update=True)
        user.role = role
        user.updated_at = now


async def set_active(
    sessions: async_sessionmaker[AsyncSession], username: str, active: bool, *, now: datetime
) -> None:
    """Enable or disable an account; disabling ends its sessions at once."""
    async with sessions.begin() as session:
        user = await _by_name(session, username, for_update=True)
        user.active = active
        user.updated_at = now
        if not active:
            await delete_user_sessions(session, user.id)


@cache
def _dummy_hash() -> str:
    return passwords.dummy_hash()


async def authenticate(
    sessions: async_sessionmaker[AsyncSession], username: str, password: str, *, now: datetime
) -> User | None:
    """The active user with this name and password, or None.

    An unknown or malformed name, a disabled account and a wrong password take the same time (one
    scrypt either way), so response times do not reveal which usernames exist.
    """
    try:
        name: str | None = normalize_username(username)
    except UserError:
        name = None
    user = None
    if name is not None:
        async with sessions() as session:
            user = await session.scalar(select(User).where(User.username == name))
    stored = user.password_hash if user is not None else _dummy_hash()
    matches = await asyncio.to_thread(passwords.verify_password, password, stored)
    if user is None or not matches or not user.active:
        return None
    if passwords.needs_rehash(stored):
        # Hashes made with older parameters are upgraded while the plain password is at hand.
        await _rehash(sessions, user, password, stored, now)
    return user


async def _rehash(
    sessions: async_sessionmaker[AsyncSession], user: User, password: str, old: str, now: datetime
) -> None:
    try:
        new_hash = await asyncio.to_thread(passwords.hash_password, password)
    except passwords.PasswordRejected:
        return  # set under an older, laxer policy: it still works, the next password change fixes it
    async with sessions.begin() as session:
        current = await session.get(User, user.id, with_for_update=True)
        # Leave it alone if the password was changed meanwhile.
        if current is not None and current.password_hash == old:
            current.password_hash = new_hash
            current.updated_at = now
    user.password_hash = new_hash


def principal_of(user: User, session_id: str | None = None) -> Principal:
    return Principal(
        name=user.username,
        display_name=user.display_name,
        role=user.role,
        extensions=tuple(user.extensions),
        via="session",
        user_id=user.id,
        session_id=session_id,
    )
