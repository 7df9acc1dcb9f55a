"""Accounts and login sessions in the database, as an administrator and the login page use them.
SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from kolokol.auth import passwords
from kolokol.auth.sessions import (
    SessionPolicy,
    create_session,
    delete_session,
    delete_user_sessions,
    find_session,
    purge_expired,
)
from kolokol.auth.users import (
    UserError,
    authenticate,
    create_user,
    get_user,
    list_users,
    set_active,
    set_extensions,
    set_password,
)
from kolokol.storage.engine import make_sessionmaker
from kolokol.storage.tables import User, WebSession
from tests.support.logins import PASSWORD, T0

POLICY = SessionPolicy(idle=timedelta(hours=12), max_age=timedelta(hours=24))
Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
def sessions(engine: AsyncEngine) -> Sessions:
    return make_sessionmaker(engine)


async def new_user(sessions: Sessions, username: str = "Anna", display_name: str | None = None) -> User:
    return await create_user(
        sessions,
        username=username,
        role="operator",
        password=PASSWORD,
        now=T0,
        extensions=("101",),
        display_name=display_name,
    )


async def start(sessions: Sessions, user: User, minutes: float = 0) -> str:
    async with sessions.begin() as session:
        secret, _ = await create_session(
            session, user, now=T0 + timedelta(minutes=minutes), policy=POLICY, user_agent="x" * 500
        )
    return secret


async def lookup(sessions: Sessions, secret: str, *, minutes: float) -> str | None:
    async with sessions.begin() as session:
        live = await find_session(session, secret, now=T0 + timedelta(minutes=minutes), policy=POLICY)
    return live.user.username if live is not None else None


async def test_usernames_are_one_account_whatever_the_case(sessions: Sessions) -> None:
    user = await new_user(sessions, "Anna.Petrova", display_name="Анна Петрова")
    assert user.username == "anna.petrova"
    with pytest.raises(UserError, match="already exists"):
        await new_user(sessions, "ANNA.PETROVA")
    assert (await get_user(sessions, "Anna.PETROVA")).display_name == "Анна Петрова"
    assert [u.username for u in await list_users(sessions)] == ["anna.petrova"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"username": "anna petrova"}, "username"),
        ({"username": ""}, "username"),
        ({"role": "integration"}, "role"),
        ({"extensions": ("1",)}, "2-8 digits"),
        ({"extensions": ("101a",)}, "2-8 digits"),
        ({"extensions": ("123456789",)}, "2-8 digits"),
        ({"password": "short"}, "at least 10"),
        ({"language": "de"}, "language"),
    ],
)
async def test_bad_accounts_are_refused_with_a_reason(
    sessions: Sessions, change: dict[str, Any], message: str
) -> None:
    fields: dict[str, Any] = {"username": "anna", "role": "operator", "password": PASSWORD, **change}
    with pytest.raises(UserError, match=message):
        await create_user(sessions, now=T0, **fields)
    assert await list_users(sessions) == []


async def test_authenticate_checks_name_password_and_status(sessions: Sessions) -> None:
    await new_user(sessions)
    found = await authenticate(sessions, " ANNA ", PASSWORD, now=T0)
    assert found is not None and found.username == "anna"
    assert await authenticate(sessions, "anna", PASSWORD + "x", now=T0) is None
    assert await authenticate(sessions, "boris", PASSWORD, now=T0) is None
    assert await authenticate(sessions, "name with spaces\x00", PASSWORD, now=T0) is None
    await set_active(sessions, "anna", False, now=T0)
    assert await authenticate(sessions, "anna", PASSWORD, now=T0) is None
    await set_active(sessions, "anna", True, now=T0)
    assert await authenticate(sessions, "anna", PASSWORD, now=T0) is not None


async def test_unknown_users_cost_one_password_check_like_everyone_else(
    sessions: Sessions, monkeypatch: pytest.MonkeyPatch
) -> None:
    await new_user(sessions)
    checks: list[str] = []
    real = passwords.verify_password

    def counting(password: str, stored: str) -> bool:
        checks.append(stored.split("$")[1])
        return real(password, stored)

    monkeypatch.setattr(passwords, "verify_password", counting)
    for name, password in (("anna", "wrong password"), ("boris", "wrong password"), ("bad name!", "x")):
        assert await authenticate(sessions, name, password, now=T0) is None
    assert checks == ["ln=15,r=8,p=1"] * 3, "the same scrypt work whether or not the user exists"


async def test_old_hashes_are_upgraded_at_login(sessions: Sessions) -> None:
    user = await new_user(sessions)
    salt = b"0123456789abcdef"
    key = hashlib.scrypt(PASSWORD.encode(), salt=salt, n=2**12, r=8, p=1, dklen=32)
    weak = "scrypt$ln=12,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$" + passwords._b64(key)
    async with sessions.begin() as session:
        await session.execute(update(User).where(User.id == user.id).values(password_hash=weak))
    assert await authenticate(sessions, "anna", PASSWORD, now=T0) is not None
    stored = (await get_user(sessions, "anna")).password_hash
    assert stored.startswith("scrypt$ln=15,") and not passwords.needs_rehash(stored)
    assert await authenticate(sessions, "anna", PASSWORD, now=T0) is not None


async def test_a_session_lives_while_used_and_ends_at_either_limit(sessions: Sessions) -> None:
    user = await new_user(sessions)
    secret = await start(sessions, user)
    async with sessions() as session:
        row = await session.scalar(select(WebSession))
    assert row is not None
    assert row.id == hashlib.sha256(secret.encode()).hexdigest() and secret not in row.id
    assert row.user_agent == "x" * 200, "kept for audit, truncated"
    assert await lookup(sessions, secret, minutes=11 * 60) == "anna"
    assert await lookup(sessions, secret, minutes=22 * 60) == "anna", "the idle limit slid"
    assert await lookup(sessions, secret, minutes=24 * 60) is None, "the absolute limit holds"
    assert await lookup(sessions, secret, minutes=0) is None, "and the ended session is gone"

    idle = await start(sessions, user)
    assert await lookup(sessions, idle, minutes=12 * 60) is None


async def test_last_seen_moves_at_most_once_a_minute(sessions: Sessions) -> None:
    secret = await start(sessions, await new_user(sessions))

    async def last_seen() -> object:
        async with sessions() as session:
            return await session.scalar(select(WebSession.last_seen_at))

    await lookup(sessions, secret, minutes=0.5)
    assert await last_seen() == T0
    await lookup(sessions, secret, minutes=1)
    assert await last_seen() == T0 + timedelta(minutes=1)


async def test_garbage_cookies_find_nothing(sessions: Sessions) -> None:
    await start(sessions, await new_user(sessions))
    for secret in ("", "x", "a" * 10_000, "кириллица", "'; DROP TABLE web_sessions; --"):
        assert await lookup(sessions, secret, minutes=1) is None


async def test_logout_password_change_and_disable_end_sessions(sessions: Sessions) -> None:
    user = await new_user(sessions)
    first, second = await start(sessions, user), await start(sessions, user)
    async with sessions.begin() as session:
        await delete_session(session, first)
    assert await lookup(sessions, first, minutes=1) is None
    assert await lookup(sessions, second, minutes=1) == "anna"

    await set_password(sessions, "anna", "a brand new password", now=T0)
    assert await lookup(sessions, second, minutes=2) is None
    assert await authenticate(sessions, "anna", PASSWORD, now=T0) is None
    assert (await get_user(sessions, "anna")).password_changed_at == T0

    third = await start(sessions, user)
    await set_active(sessions, "anna", False, now=T0)
    assert await lookup(sessions, third, minutes=1) is None
    async with sessions.begin() as session:
        assert await delete_user_sessions(session, user.id) == 0, "nothing left to end"


async def test_expired_sessions_are_purged(sessions: Sessions) -> None:
    user = await new_user(sessions)
    await start(sessions, user)
    fresh = await start(sessions, user, minutes=13 * 60)
    async with sessions.begin() as session:
        purged = await purge_expired(session, now=T0 + timedelta(hours=13), policy=POLICY)
    assert purged == 1
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebSession)) == 1
    assert await lookup(sessions, fresh, minutes=13 * 60 + 1) == "anna"


async def test_extensions_are_replaced_validated_and_deduplicated(sessions: Sessions) -> None:
    await new_user(sessions)
    assert await set_extensions(sessions, "anna", [" 102", "103", "102"], now=T0) == ["102", "103"]
    assert (await get_user(sessions, "anna")).extensions == ["102", "103"]
    with pytest.raises(UserError):
        await set_extensions(sessions, "anna", ["１０１"], now=T0)
    assert await set_extensions(sessions, "anna", [], now=T0) == []


async def test_deleting_a_user_takes_their_sessions(sessions: Sessions) -> None:
    user = await new_user(sessions)
    await start(sessions, user)
    async with sessions.begin() as session:
        await session.delete(await session.get(User, user.id))
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(WebSession)) == 0
