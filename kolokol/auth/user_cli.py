"""``kolokol user ...``: console accounts from the command line (create, passwd, list, enable, disable,
set-extensions, set-role).

Passwords never come as arguments (they would sit in the shell history and in ``ps``): they are typed
twice at a prompt, or read as one line from standard input with ``--password-stdin``.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

from kolokol.auth.cli_support import CommandError, table, with_database
from kolokol.auth.roles import USER_ROLES
from kolokol.settings import LANGUAGES, Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    Sessions = async_sessionmaker[AsyncSession]


def add_user_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    user = sub.add_parser("user", parents=[common], help="console users: logins, roles, phones")
    commands = user.add_subparsers(dest="user_command", required=True)
    create = commands.add_parser("create", parents=[common], help="create a user (asks for the password)")
    create.add_argument("--username", required=True)
    create.add_argument("--role", required=True, choices=USER_ROLES)
    create.add_argument("--name", help="the name shown in the console (default: the username)")
    create.add_argument(
        "--extension", action="append", default=[], metavar="EXT", help="a phone this user answers (repeat)"
    )
    create.add_argument("--language", choices=LANGUAGES, help="the user's page language")
    create.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    passwd = commands.add_parser(
        "passwd", parents=[common], help="set a new password (ends the user's logins)"
    )
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    commands.add_parser("list", parents=[common], help="list users")
    for name, text in (("disable", "disable a user (ends their logins)"), ("enable", "enable a user")):
        commands.add_parser(name, parents=[common], help=text).add_argument("username")
    extensions = commands.add_parser(
        "set-extensions", parents=[common], help="replace the phones a user answers (none: clear)"
    )
    extensions.add_argument("username")
    extensions.add_argument("extensions", nargs="*", metavar="EXT")
    role = commands.add_parser("set-role", parents=[common], help="change a user's role")
    role.add_argument("username")
    role.add_argument("role", choices=USER_ROLES)


def _read_password(from_stdin: bool, stdin: TextIO) -> str:
    from kolokol.auth.passwords import PasswordRejected, check_policy

    if from_stdin:
        raw = stdin.buffer.readline()
        if not raw:
            raise CommandError("no password on standard input")
        try:
            password = raw.decode("utf-8").removesuffix("\n").removesuffix("\r")
        except UnicodeDecodeError:
            raise CommandError("the password on standard input is not UTF-8 text") from None
    else:
        try:
            password = getpass.getpass("Password: ")
            repeated = getpass.getpass("Repeat the password: ")
        except EOFError:
            raise CommandError("no password given (use --password-stdin to pipe one in)") from None
        if repeated != password:
            raise CommandError("the passwords do not match")
    try:
        check_policy(password)
    except PasswordRejected as exc:
        raise CommandError(str(exc)) from None
    return password


def _now() -> datetime:
    return datetime.now(UTC)


async def _list(sessions: Sessions, _args: argparse.Namespace) -> str:
    from kolokol.auth.users import list_users

    rows = [("USERNAME", "ROLE", "STATUS", "EXTENSIONS", "NAME")]
    for user in await list_users(sessions):
        status = "active" if user.active else "disabled"
        rows.append((user.username, user.role, status, ",".join(user.extensions) or "-", user.display_name))
    return table(rows) if len(rows) > 1 else "no users yet: kolokol user create --username ... --role ..."


async def _create(sessions: Sessions, args: argparse.Namespace, password: str) -> str:
    from kolokol.auth.users import create_user

    user = await create_user(
        sessions,
        username=args.username,
        role=args.role,
        password=password,
        now=_now(),
        display_name=args.name,
        extensions=args.extension,
        language=args.language,
    )
    return f"user {user.username} created ({user.role})"


async def _passwd(sessions: Sessions, args: argparse.Namespace, password: str) -> str:
    from kolokol.auth.users import normalize_username, set_password

    await set_password(sessions, args.username, password, now=_now())
    return f"password of {normalize_username(args.username)} changed; their logins have ended"


async def _set_active(sessions: Sessions, args: argparse.Namespace) -> str:
    from kolokol.auth.users import normalize_username, set_active

    active = args.user_command == "enable"
    await set_active(sessions, args.username, active, now=_now())
    return f"user {normalize_username(args.username)} {'enabled' if active else 'disabled'}"


async def _set_extensions(sessions: Sessions, args: argparse.Namespace) -> str:
    from kolokol.auth.users import normalize_username, set_extensions

    extensions = await set_extensions(sessions, args.username, args.extensions, now=_now())
    return f"{normalize_username(args.username)} answers {', '.join(extensions) or 'no phones'}"


async def _set_role(sessions: Sessions, args: argparse.Namespace) -> str:
    from kolokol.auth.users import normalize_username, set_role

    await set_role(sessions, args.username, args.role, now=_now())
    return f"{normalize_username(args.username)} is now {args.role}"


def run(settings: Settings, args: argparse.Namespace, stdin: TextIO = sys.stdin) -> int:
    from kolokol.auth.users import UserError

    command: str = args.user_command
    try:
        # The password is asked for before touching the database, so a typo costs no connection.
        if command in ("create", "passwd"):
            password = _read_password(args.password_stdin, stdin)
            handler = _create if command == "create" else _passwd
            message = asyncio.run(
                with_database(settings, lambda s: handler(s, args, password), must_exist=command != "create")
            )
        else:
            simple = {
                "list": _list,
                "enable": _set_active,
                "disable": _set_active,
                "set-extensions": _set_extensions,
                "set-role": _set_role,
            }[command]
            message = asyncio.run(with_database(settings, lambda s: simple(s, args), must_exist=True))
    except (CommandError, UserError) as exc:
        print(f"kolokol: {exc}", file=sys.stderr)
        return 2
    print(message)
    return 0
