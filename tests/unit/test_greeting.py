"""What kolokol serve tells whoever started it: an address that opens, and a command that works when
pasted into a shell anywhere."""

from __future__ import annotations

from pathlib import Path

import pytest

from kolokol.greeting import console_url, first_user_command, greeting, kolokol_command
from kolokol.home import Found, Home
from kolokol.settings import HttpSettings, Settings


@pytest.mark.parametrize(
    ("http", "url"),
    [
        ({}, "http://127.0.0.1:8123/"),
        ({"host": "0.0.0.0"}, "http://127.0.0.1:8123/"),  # noqa: S104 - listening everywhere
        ({"host": "::"}, "http://[::1]:8123/"),
        ({"host": "fd00::5"}, "http://[fd00::5]:8123/"),
        ({"host": "192.168.1.10"}, "http://192.168.1.10:8123/"),
        ({"public_url": "https://kolokol.clinic"}, "https://kolokol.clinic/"),
    ],
)
def test_the_address_is_one_a_browser_on_this_machine_can_open(http: dict[str, str], url: str) -> None:
    assert console_url(HttpSettings.model_validate(http), 8123) == url


def test_the_command_runs_this_same_kolokol() -> None:
    assert (
        kolokol_command("/opt/k/.venv/bin/kolokol", "/opt/k/.venv/bin/python") == "/opt/k/.venv/bin/kolokol"
    )
    assert kolokol_command("/opt/k/kolokol/__main__.py", "/usr/bin/python3") == "/usr/bin/python3 -m kolokol"


def found(config: Path | None = None, named: bool = False) -> Found:
    return Found(Settings(), Home(Path("/srv/my clinic"), "$KOLOKOL_HOME"), config, named)


def test_the_first_user_command_carries_what_found_this_database() -> None:
    plain = first_user_command(found(), "kolokol", {})
    assert plain == "kolokol user create --username admin --role admin"
    named = first_user_command(found(Path("/etc/kolokol.toml"), named=True), "kolokol", {"KOLOKOL_HOME": "x"})
    assert named == (
        "KOLOKOL_HOME='/srv/my clinic' kolokol user create --username admin --role admin"
        " --config /etc/kolokol.toml"
    )
    in_home = first_user_command(found(Path("/srv/my clinic/kolokol.toml")), "kolokol", {})
    assert "--config" not in in_home, "the home's kolokol.toml is found without being named"


def test_the_next_step_is_shown_only_while_nobody_can_log_in() -> None:
    first = greeting("http://127.0.0.1:8080/", found(), 0, "kolokol user create ...", {})
    assert "Nobody can log in yet" in first and "  kolokol user create ..." in first.splitlines()
    later = greeting("http://127.0.0.1:8080/", found(), 2, "kolokol user create ...", {})
    assert later.splitlines()[0] == "kolokol is up: open http://127.0.0.1:8080/ (Ctrl+C stops it)"
    assert "Nobody" not in later and "user create" not in later
