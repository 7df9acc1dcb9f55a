"""A new user's first commands, run as they would run them: from the checkout or from anywhere else,
every command finds the same configuration and database, and a command that reads never creates an
empty database somewhere else: it says where it looked."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support.serving import serving

PASSWORD = "correct horse battery staple"


def run(*args: str, cwd: Path, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kolokol", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
        check=False,
        env=env,
        cwd=cwd,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """kolokol's own variables cleared, its home in a fresh directory."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KOLOKOL_")}
    return {**clean, "KOLOKOL_HOME": str(tmp_path / "home"), "KOLOKOL_LOG__FORMAT": "console"}


@pytest.mark.parametrize("command", [("user", "list"), ("token", "list"), ("user", "disable", "anna")])
def test_a_command_on_a_database_that_does_not_exist_says_where_it_looked_and_creates_nothing(
    tmp_path: Path, env: dict[str, str], command: tuple[str, ...]
) -> None:
    result = run(*command, cwd=tmp_path, env=env)
    expected = tmp_path / "home" / "var" / "kolokol.sqlite3"
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert f"no database at {expected}" in line and "$KOLOKOL_HOME" in line
    assert not expected.exists() and not (tmp_path / "var").exists(), "nothing was created"


def test_the_first_user_is_found_from_any_directory(tmp_path: Path, env: dict[str, str]) -> None:
    somewhere, elsewhere = tmp_path / "somewhere", tmp_path / "elsewhere" / "deeper"
    somewhere.mkdir()
    elsewhere.mkdir(parents=True)
    created = run(
        "user", "create", "--username", "admin", "--role", "admin", "--password-stdin",
        cwd=somewhere, env=env, stdin=PASSWORD + "\n",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    listed = run("user", "list", cwd=elsewhere, env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[1].split()[:3] == ["admin", "admin", "active"]
    assert (tmp_path / "home" / "var" / "kolokol.sqlite3").is_file()
    assert not (somewhere / "var").exists() and not (elsewhere / "var").exists()


def test_the_homes_kolokol_toml_is_the_configuration_of_every_command(
    tmp_path: Path, env: dict[str, str]
) -> None:
    home = Path(env["KOLOKOL_HOME"])
    home.mkdir()
    (home / "kolokol.toml").write_text('[database]\nurl = "sqlite+aiosqlite:///clinic.sqlite3"\n')
    assert run("migrate", cwd=tmp_path, env=env).returncode == 0
    assert (home / "clinic.sqlite3").is_file()
    listed = run("user", "list", cwd=home, env=env)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.startswith("no users yet")


def test_a_database_without_kolokols_tables_is_not_read_as_empty(tmp_path: Path, env: dict[str, str]) -> None:
    stray = tmp_path / "stray.sqlite3"
    stray.write_bytes(b"")
    result = run(
        "user", "list", cwd=tmp_path, env={**env, "KOLOKOL_DATABASE__URL": f"sqlite+aiosqlite:///{stray}"}
    )
    assert result.returncode == 2
    assert f"the database at {stray} holds no kolokol tables" in result.stderr
    assert stray.read_bytes() == b"", "a command that reads changed nothing"


def test_serve_says_where_to_go_and_the_exact_command_that_creates_the_first_user(
    tmp_path: Path, env: dict[str, str]
) -> None:
    with serving(tmp_path, env) as served:
        with urllib.request.urlopen(served.url + "healthz", timeout=10) as resp:  # noqa: S310 - loopback
            assert resp.status == 200
        said = served.said()
        assert f"database: {tmp_path / 'home' / 'var' / 'kolokol.sqlite3'}" in said
        lines = said.splitlines()
        assert "Nobody can log in yet" in said, said
        command = lines[next(i for i, line in enumerate(lines) if line.startswith("Nobody")) + 1].strip()
    # Pasted as printed, from another directory, in a shell that knows nothing of kolokol's variables.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    bare = {k: v for k, v in env.items() if not k.startswith("KOLOKOL_")}
    created = subprocess.run(
        ["/bin/sh", "-c", f"{command} --password-stdin"],
        input=PASSWORD + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=bare,
        cwd=elsewhere,
    )
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "user admin created (admin)"
    with serving(tmp_path, env) as served:
        assert "Nobody can log in yet" not in served.said()
