"""The ``kolokol`` command: serve, migrate, replay, token create, contacts import, user."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kolokol.auth.token_cli import add_token_parser
from kolokol.auth.user_cli import add_user_parser
from kolokol.settings import Settings, SettingsError

if TYPE_CHECKING:
    from kolokol.home import Found


def _parser() -> argparse.ArgumentParser:
    # --config is accepted before or after the command ("kolokol replay --config FILE ...").
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        default=argparse.SUPPRESS,
        help="TOML configuration file (default: $KOLOKOL_CONFIG or built-in defaults)",
    )
    parser = argparse.ArgumentParser(
        prog="kolokol", description="Telephony and call tracking for clinics", parents=[common]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", parents=[common], help="run the HTTP API, webhooks and the AMI connection")
    sub.add_parser("migrate", parents=[common], help="bring the database schema up to date")
    replay = sub.add_parser(
        "replay", parents=[common], help="print call records (JSON lines) from recorded PBX traffic"
    )
    replay.add_argument("files", nargs="+", metavar="FILE")
    add_token_parser(sub, common)
    contacts = sub.add_parser("contacts", parents=[common], help="contacts")
    contacts_sub = contacts.add_subparsers(dest="contacts_command", required=True)
    imp = contacts_sub.add_parser(
        "import", parents=[common], help="upsert contacts from a CSV file (UTF-8 or cp1251)"
    )
    imp.add_argument("file")
    add_user_parser(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # replay's --config means "use that database"; without it replay runs on an in-memory one.
    config: str | None = getattr(args, "config", None)
    from kolokol.home import load_for_command

    try:
        # kolokol's home decides what nobody named: every command finds the same configuration and
        # SQLite database from any directory (kolokol/home.py).
        found = load_for_command(config)
    except SettingsError as exc:
        print(f"kolokol: {exc}", file=sys.stderr)
        return 2
    settings = found.settings
    from kolokol.log_setup import configure_logging

    configure_logging(settings.log.level, settings.log.format)
    if args.command == "serve":
        return _serve(found)
    if args.command == "migrate":
        return asyncio.run(_migrate(settings))
    if args.command == "replay":
        from kolokol.calls.replay import replay

        return asyncio.run(replay(args.files, settings, use_config_db=config is not None, out=sys.stdout))
    if args.command == "token":
        from kolokol.auth.token_cli import run as run_token_command

        return run_token_command(settings, args)
    if args.command == "contacts":
        from kolokol.contacts.csv_import import import_contacts_file

        return asyncio.run(import_contacts_file(settings, Path(args.file)))
    if args.command == "user":
        from kolokol.auth.user_cli import run

        return run(settings, args)
    return 2


def _serve(found: Found) -> int:
    from aiohttp import web

    from kolokol.app import make_app
    from kolokol.greeting import active_users, console_url, first_user_command, greeting, kolokol_command
    from kolokol.http.server import serve

    settings = found.settings
    app = make_app(settings)
    users: list[int] = []

    async def count_users(app: web.Application) -> None:
        users.append(await active_users(app))

    app.on_startup.append(count_users)

    def up(port: int) -> None:
        command = first_user_command(found, kolokol_command(sys.argv[0], sys.executable), os.environ)
        url = console_url(settings.http, port)
        print(
            greeting(url, found, users[0] if users else 1, command, os.environ), file=sys.stderr, flush=True
        )

    # kolokol's own server: unparseable requests get the JSON error contract, connections time out.
    serve(app, settings.http, up)
    return 0


async def _migrate(settings: Settings) -> int:
    from kolokol.storage.engine import make_engine
    from kolokol.storage.migrate import upgrade

    engine = make_engine(settings.database.url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()
    print("database is up to date", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
