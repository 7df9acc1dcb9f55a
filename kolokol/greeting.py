"""What ``kolokol serve`` tells whoever started it, once it listens: the address to open, where its
configuration and data are, and, while nobody can log in yet, the exact command that creates the first
user."""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path

from aiohttp import web
from sqlalchemy import func, select

from kolokol.app_keys import SESSIONS
from kolokol.home import CONFIG_NAME, Found, where
from kolokol.settings import HttpSettings
from kolokol.storage.tables import User


def console_url(http: HttpSettings, port: int) -> str:
    """The address to open in a browser on this machine (``http.public_url`` when set)."""
    if http.public_url:
        return http.public_url.rstrip("/") + "/"
    host = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(http.host, http.host)  # noqa: S104
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


def kolokol_command(argv0: str, executable: str) -> str:
    """How to run this same kolokol from any directory."""
    program = Path(argv0)
    if program.name == "kolokol":
        return shlex.quote(str(program.absolute()))
    return f"{shlex.quote(executable)} -m kolokol"


def first_user_command(found: Found, command: str, environ: Mapping[str, str]) -> str:
    """The command that creates the first user where this kolokol will look for it."""
    parts = []
    if environ.get("KOLOKOL_HOME"):
        parts.append(f"KOLOKOL_HOME={shlex.quote(str(found.home.path))}")
    parts += [command, "user", "create", "--username", "admin", "--role", "admin"]
    if found.config_named and found.config is not None:
        parts += ["--config", shlex.quote(str(found.config))]
    return " ".join(parts)


def greeting(url: str, found: Found, users: int, create_user: str, environ: Mapping[str, str]) -> str:
    configuration = (
        str(found.config)
        if found.config
        else f"the built-in defaults (no {found.home.path / CONFIG_NAME}, no --config)"
    )
    lines = [
        f"kolokol is up: open {url} (Ctrl+C stops it)",
        f"  configuration: {configuration}; database: {where(found.settings.database.url)}",
        f"  {found.home.describe()}",
    ]
    if users == 0:
        lines += [
            "Nobody can log in yet. Create the first user (an admin; it asks for the password twice):",
            f"  {create_user}",
        ]
        if any(name.startswith("KOLOKOL_DATABASE__") for name in environ):
            lines.append("  (with the same KOLOKOL_DATABASE__ variables set as for this kolokol serve)")
    return "\n".join(lines)


async def active_users(app: web.Application) -> int:
    async with app[SESSIONS]() as session:
        count = await session.scalar(select(func.count()).select_from(User).where(User.active.is_(True)))
    return int(count or 0)
