"""kolokol's home: one rule for where every command finds its configuration and its SQLite database."""

from __future__ import annotations

from pathlib import Path

import pytest

from kolokol.home import Home, anchored, find_home, load_for_command, sqlite_file, where


def checkout(tmp_path: Path) -> Path:
    """A directory that looks like a clone of the repository."""
    root = tmp_path / "clone"
    (root / "scripts").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'kolokol'\n")
    (root / "scripts" / "serve").write_text("#!/bin/sh\n")
    return root


def test_kolokol_home_wins_then_the_checkout_then_the_users_data_directory(tmp_path: Path) -> None:
    clone, elsewhere = checkout(tmp_path), tmp_path / "site-packages"
    elsewhere.mkdir()
    chosen = find_home({"KOLOKOL_HOME": str(tmp_path / "data")}, checkout=clone)
    assert (chosen.path, chosen.chosen_by) == (tmp_path / "data", "$KOLOKOL_HOME")
    assert find_home({}, checkout=clone).path == clone
    assert (
        find_home({"XDG_DATA_HOME": str(tmp_path / "xdg")}, checkout=elsewhere).path
        == tmp_path / "xdg" / "kolokol"
    )
    assert find_home({}, checkout=elsewhere).path == Path.home() / ".local" / "share" / "kolokol"


def test_the_running_kolokol_is_a_checkout() -> None:
    assert find_home({}).path == Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite+aiosqlite:///var/kolokol.sqlite3", "sqlite+aiosqlite:////srv/k/var/kolokol.sqlite3"),
        ("sqlite+aiosqlite:///kolokol.sqlite3", "sqlite+aiosqlite:////srv/k/kolokol.sqlite3"),
        ("sqlite+aiosqlite:////data/k.sqlite3", "sqlite+aiosqlite:////data/k.sqlite3"),
        ("sqlite+aiosqlite://", "sqlite+aiosqlite://"),
        ("sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),
        ("postgresql+psycopg://k:secret@db/kolokol", "postgresql+psycopg://k:secret@db/kolokol"),
    ],
)
def test_a_relative_sqlite_path_is_a_path_in_the_home(url: str, expected: str) -> None:
    assert anchored(url, Home(Path("/srv/k"), "test")) == expected


def test_messages_name_the_file_or_the_url_without_its_password() -> None:
    assert where("sqlite+aiosqlite:////srv/k/var/kolokol.sqlite3") == "/srv/k/var/kolokol.sqlite3"
    assert where("postgresql+psycopg://k:secret@db/kolokol") == "postgresql+psycopg://k:***@db/kolokol"
    assert sqlite_file("postgresql+psycopg://db/kolokol") is None


def test_every_command_finds_the_same_database_from_any_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    for cwd in (tmp_path, tmp_path / "a" / "b"):
        cwd.mkdir(parents=True, exist_ok=True)
        monkeypatch.chdir(cwd)
        found = load_for_command(None, {"KOLOKOL_HOME": str(home)})
        assert found.settings.database.url == f"sqlite+aiosqlite:///{home}/var/kolokol.sqlite3"
        assert (found.config, found.config_named) == (None, False)


def test_the_homes_kolokol_toml_is_read_when_no_configuration_is_named(tmp_path: Path) -> None:
    (tmp_path / "kolokol.toml").write_text('[database]\nurl = "sqlite+aiosqlite:///data/clinic.sqlite3"\n')
    found = load_for_command(None, {"KOLOKOL_HOME": str(tmp_path)})
    assert (found.config, found.config_named) == (tmp_path / "kolokol.toml", False)
    assert found.settings.database.url == f"sqlite+aiosqlite:///{tmp_path}/data/clinic.sqlite3"


def test_a_named_configuration_wins_over_the_homes(tmp_path: Path) -> None:
    (tmp_path / "kolokol.toml").write_text("[http]\nport = 9001\n")
    named = tmp_path / "elsewhere.toml"
    named.write_text("[http]\nport = 9002\n")
    env = {"KOLOKOL_HOME": str(tmp_path)}
    by_variable = load_for_command(None, {**env, "KOLOKOL_CONFIG": str(named)})
    by_option = load_for_command(str(named), {**env, "KOLOKOL_CONFIG": str(tmp_path / "kolokol.toml")})
    for found in (by_variable, by_option):
        assert (found.settings.http.port, found.config, found.config_named) == (9002, named, True)
    assert by_variable.settings.database.url == f"sqlite+aiosqlite:///{tmp_path}/var/kolokol.sqlite3"


def test_an_absolute_or_server_database_is_used_as_configured(tmp_path: Path) -> None:
    env = {"KOLOKOL_HOME": str(tmp_path)}
    postgres = "postgresql+psycopg://kolokol@db.clinic/kolokol"
    found = load_for_command(None, {**env, "KOLOKOL_DATABASE__URL": postgres})
    assert found.settings.database.url == postgres
