"""Where kolokol keeps its data and finds its configuration when nobody says: one rule for every command.

kolokol's home is, in this order: ``$KOLOKOL_HOME``; the checkout kolokol runs from (a clone of the
repository, where ``scripts/serve`` installs it); else ``$XDG_DATA_HOME/kolokol``
(``~/.local/share/kolokol``). Without ``--config`` or ``$KOLOKOL_CONFIG``, ``<home>/kolokol.toml`` is the
configuration when it exists. A relative SQLite path in ``database.url`` (the default
``var/kolokol.sqlite3`` among them) is a path in the home, whatever the working directory:
``scripts/serve`` and ``.venv/bin/kolokol user list`` run from anywhere use the same database.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from kolokol.settings import Settings, load_settings

HOME_VARIABLE = "KOLOKOL_HOME"
CONFIG_NAME = "kolokol.toml"
_CHECKOUT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Home:
    path: Path
    chosen_by: str  # how the rule picked it, for messages: "$KOLOKOL_HOME", "the checkout", ...

    def describe(self) -> str:
        return f"kolokol's home {self.path} ({self.chosen_by})"


def find_home(environ: Mapping[str, str] | None = None, checkout: Path = _CHECKOUT) -> Home:
    env = os.environ if environ is None else environ
    if env.get(HOME_VARIABLE):
        return Home(Path(env[HOME_VARIABLE]).expanduser().resolve(), f"${HOME_VARIABLE}")
    if (checkout / "pyproject.toml").is_file() and (checkout / "scripts" / "serve").is_file():
        return Home(checkout, "the checkout kolokol runs from")
    data = Path(env["XDG_DATA_HOME"]) if env.get("XDG_DATA_HOME") else Path.home() / ".local" / "share"
    return Home((data / "kolokol").resolve(), "the user's data directory; set $KOLOKOL_HOME to choose")


def default_config(home: Home) -> Path | None:
    """``<home>/kolokol.toml`` when it exists: the configuration nobody had to name."""
    candidate = home.path / CONFIG_NAME
    return candidate if candidate.is_file() else None


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None: not SQLite, in memory, or a ``file:`` URI)."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        return None
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return Path(database)


def anchored(url: str, home: Home) -> str:
    """The URL with a relative SQLite path made a path in the home; any other URL as it is."""
    path = sqlite_file(url)
    if path is None or path.is_absolute():
        return url
    return make_url(url).set(database=str(home.path / path)).render_as_string(hide_password=False)


def where(url: str) -> str:
    """The database a URL names, for a message: the file, or the URL without its password."""
    path = sqlite_file(url)
    if path is not None:
        return str(path)
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "an unreadable database.url"


@dataclass(frozen=True)
class Found:
    """What a command runs on, and how it was found (for the messages that say so)."""

    settings: Settings
    home: Home
    config: Path | None  # the configuration file read, if any
    config_named: bool  # named by --config or $KOLOKOL_CONFIG (not found in the home)


def load_for_command(config: str | None, environ: Mapping[str, str] | None = None) -> Found:
    """The settings a command runs on: ``config`` (--config), else ``$KOLOKOL_CONFIG``, else
    ``<home>/kolokol.toml`` if it exists, else the defaults; a relative SQLite path anchored in the home.
    Raises SettingsError as `load_settings` does."""
    env = os.environ if environ is None else environ
    home = find_home(env)
    named = config or env.get("KOLOKOL_CONFIG") or None
    chosen = Path(named) if named else default_config(home)
    settings = load_settings(chosen, env)
    url = anchored(settings.database.url, home)
    if url != settings.database.url:
        settings = settings.model_copy(update={"database": settings.database.model_copy(update={"url": url})})
    return Found(settings, home, chosen.resolve() if chosen else None, named is not None)
