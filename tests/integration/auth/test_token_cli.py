"""``kolokol token create / list / revoke`` as an administrator uses it, on SQLite and PostgreSQL, and what
the REST API then says to a revoked or expired token (issue 9, part 10)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy.ext.asyncio import AsyncEngine

from kolokol.app import make_app
from kolokol.app_keys import CLOCK
from kolokol.settings import Settings
from kolokol.storage.engine import make_sessionmaker
from kolokol.storage.tables import ApiToken
from tests.support.environment import kolokol_environment
from tests.support.logins import ClientMaker, Clock
from tests.support.paths import REPO


def token_cli(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = kolokol_environment(KOLOKOL_DATABASE__URL=db_url)
    return subprocess.run(
        [sys.executable, "-m", "kolokol", "token", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=REPO,
    )


def listed(db_url: str) -> dict[str, list[str]]:
    """`token list` rows by id: [role, state, created, expires, name...]."""
    result = token_cli(db_url, "list")
    assert result.returncode == 0, result.stderr
    if result.stdout.startswith("no tokens yet"):
        return {}
    header, *rows = result.stdout.strip().splitlines()
    assert header.split() == ["ID", "ROLE", "STATE", "CREATED", "EXPIRES", "NAME"]
    return {row.split()[0]: row.split()[1:] for row in rows}


async def status_of(client: TestClient[web.Request, web.Application], token: str) -> tuple[int, str]:
    async with client.get("/api/me", headers={"Authorization": f"Bearer {token}"}) as resp:
        body = await resp.json()
    return resp.status, body.get("message", "") if resp.status != 200 else body["username"]


async def test_create_list_revoke_and_what_the_api_then_says(
    db_url: str, engine: AsyncEngine, aiohttp_client: ClientMaker
) -> None:
    created = token_cli(db_url, "create", "--role", "integration", "--name", "CRM", "--expires-in", "90d")
    assert created.returncode == 0, created.stderr
    secret = created.stdout.strip()
    assert secret.startswith("kk_") and "\n" not in secret, "stdout is the token alone: scripts capture it"
    assert "expires" in created.stderr and secret not in created.stderr
    forever = token_cli(db_url, "create", "--role", "manager", "--name", "Ольга Смирнова").stdout.strip()

    rows = listed(db_url)
    assert len(rows) == 2
    crm_id = next(i for i, row in rows.items() if row[-1] == "CRM")
    role, state, created_at, expires, *_ = rows[crm_id]
    assert (role, state) == ("integration", "active")
    made = datetime.strptime(created_at, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
    until = datetime.strptime(expires, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
    assert until - made == timedelta(days=90)
    olga = next(row for row in rows.values() if row[0] == "manager")
    assert (olga[3], olga[4:]) == ("-", ["Ольга", "Смирнова"])
    assert secret not in token_cli(db_url, "list").stdout, "list never shows secrets"

    app = make_app(Settings.model_validate({"database": {"url": db_url}, "feed": {"port": 0}}))
    clock = Clock(datetime.now(UTC))
    app[CLOCK] = clock
    client = await aiohttp_client(app)
    assert await status_of(client, secret) == (200, "CRM")

    revoked = token_cli(db_url, "revoke", crm_id[:8])
    assert (revoked.returncode, revoked.stdout.strip()) == (0, f"token {crm_id} (CRM) revoked")
    assert await status_of(client, secret) == (401, "the token was revoked")
    assert listed(db_url)[crm_id][1] == "revoked"
    again = token_cli(db_url, "revoke", crm_id)
    assert again.returncode == 0 and "already revoked" in again.stdout

    # The token without an expiry works until revoked; one with an expiry stops by itself.
    assert (await status_of(client, forever))[0] == 200
    clock.advance(days=3650)
    assert (await status_of(client, forever))[0] == 200


async def test_an_expired_token_gets_401_saying_it_expired(
    db_url: str, engine: AsyncEngine, aiohttp_client: ClientMaker
) -> None:
    secret = token_cli(
        db_url, "create", "--role", "manager", "--name", "temp", "--expires-in", "2h"
    ).stdout.strip()
    app = make_app(Settings.model_validate({"database": {"url": db_url}, "feed": {"port": 0}}))
    clock = Clock(datetime.now(UTC))
    app[CLOCK] = clock
    client = await aiohttp_client(app)
    assert (await status_of(client, secret))[0] == 200
    clock.advance(hours=2, minutes=1)
    async with client.get("/api/calls", headers={"Authorization": f"Bearer {secret}"}) as resp:
        body = await resp.json()
    assert (resp.status, body["error"]) == (401, "invalid-token")
    assert body["message"].startswith("the token expired at ")
    # Unknown tokens are told apart from expired and revoked ones.
    assert await status_of(client, "kk_" + "x" * 43) == (401, "the token is unknown")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["revoke", "abc"], "at least 6"),
        (["revoke", "not-hex-at-all"], "by its id"),
        (["revoke", "0123456789abcdef"], "no token 0123456789abcdef"),
        (["create", "--role", "manager", "--name", "   "], "name"),
        (["create", "--role", "manager", "--name", "x", "--expires-in", "90"], "duration"),
        (["create", "--role", "manager", "--name", "x", "--expires-in", "0d"], "duration"),
        (["create", "--role", "manager", "--name", "x", "--expires-in", "11000d"], "10 years"),
        (["create", "--role", "root", "--name", "x"], "invalid choice"),
    ],
)
async def test_bad_input_exits_2_and_changes_nothing(
    db_url: str, engine: AsyncEngine, args: list[str], words: str
) -> None:
    result = token_cli(db_url, *args)
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert result.stdout == ""
    assert listed(db_url) == {}


async def test_an_ambiguous_id_start_revokes_nothing(db_url: str, engine: AsyncEngine) -> None:
    now = datetime.now(UTC)
    async with make_sessionmaker(engine).begin() as session:
        for suffix, name in (("0" * 26, "first"), ("1" * 26, "second")):
            session.add(
                ApiToken(id="abcdef" + suffix, name=name, role="integration", token_hash=name, created_at=now)
            )
    result = token_cli(db_url, "revoke", "abcdef")
    assert result.returncode == 2 and "more than one" in result.stderr
    assert [row[1] for row in listed(db_url).values()] == ["active", "active"]
    assert token_cli(db_url, "revoke", "abcdef1").returncode == 0
    assert sorted(row[1] for row in listed(db_url).values()) == ["active", "revoked"]
