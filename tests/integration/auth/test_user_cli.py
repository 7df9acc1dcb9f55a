"""``kolokol user ...`` as an administrator uses it, on SQLite and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy.ext.asyncio import AsyncEngine

from kolokol.auth.users import authenticate
from kolokol.storage.engine import make_sessionmaker
from tests.support.environment import kolokol_environment
from tests.support.logins import T0
from tests.support.paths import REPO

ROOT = REPO


class Cli:
    def __init__(self, db_url: str) -> None:
        self.env = kolokol_environment(KOLOKOL_DATABASE__URL=db_url)

    def __call__(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kolokol", "user", *args],
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env=self.env,
            cwd=ROOT,
        )


def refused(result: subprocess.CompletedProcess[str], words: str) -> bool:
    lines = result.stderr.strip().splitlines()
    return result.returncode == 2 and len(lines) == 1 and words in lines[0]


async def can_log_in(engine: AsyncEngine, username: str, password: str) -> bool:
    return await authenticate(make_sessionmaker(engine), username, password, now=T0) is not None


async def test_create_list_and_log_in(db_url: str, engine: AsyncEngine) -> None:
    cli = Cli(db_url)
    options = ["--username", "Anna", "--role", "operator", "--name", "Анна Петрова"]
    options += ["--extension", "101", "--extension", "102", "--password-stdin"]
    created = cli("create", *options, stdin="длинный пароль 1\n")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "user anna created (operator)"
    assert "длинный пароль" not in created.stdout + created.stderr
    assert await can_log_in(engine, "anna", "длинный пароль 1"), "the trailing newline is not the password"

    listing = cli("list")
    assert listing.returncode == 0
    header, row = listing.stdout.strip().splitlines()
    assert header.split() == ["USERNAME", "ROLE", "STATUS", "EXTENSIONS", "NAME"]
    assert row.split() == ["anna", "operator", "active", "101,102", "Анна", "Петрова"]

    again = cli(
        "create", "--username", "ANNA", "--role", "manager", "--password-stdin", stdin="another password\n"
    )
    assert refused(again, "already exists")


async def test_bad_input_exits_2_with_one_line(db_url: str, engine: AsyncEngine) -> None:
    cli = Cli(db_url)
    short = cli("create", "--username", "olga", "--role", "manager", "--password-stdin", stdin="short\n")
    assert refused(short, "at least 10 characters")
    nothing = cli("create", "--username", "olga", "--role", "manager", "--password-stdin")
    assert refused(nothing, "no password")
    options = ["--username", "olga", "--role", "manager", "--extension", "1O1", "--password-stdin"]
    extension = cli("create", *options, stdin="long enough password\n")
    assert refused(extension, "2-8 digits")
    assert refused(cli("disable", "nobody"), "no user 'nobody'")
    assert cli("list").stdout.startswith("no users yet")


async def test_passwd_extensions_role_disable_enable(db_url: str, engine: AsyncEngine) -> None:
    cli = Cli(db_url)
    assert (
        cli(
            "create", "--username", "olga", "--role", "operator", "--password-stdin", stdin="first password\n"
        ).returncode
        == 0
    )

    changed = cli("passwd", "olga", "--password-stdin", stdin="second password\r\n")
    assert changed.returncode == 0, changed.stderr
    assert not await can_log_in(engine, "olga", "first password")
    assert await can_log_in(engine, "olga", "second password")

    assert cli("set-extensions", "olga", "103", "104").stdout.strip() == "olga answers 103, 104"
    assert refused(cli("set-extensions", "olga", "12345678901"), "2-8 digits")
    assert cli("set-role", "olga", "manager").returncode == 0
    assert cli("disable", "olga").returncode == 0
    assert not await can_log_in(engine, "olga", "second password")
    assert cli("list").stdout.splitlines()[1].split()[:4] == ["olga", "manager", "disabled", "103,104"]
    assert cli("enable", "olga").returncode == 0
    assert await can_log_in(engine, "olga", "second password")
