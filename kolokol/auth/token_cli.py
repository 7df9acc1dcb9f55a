"""``kolokol token ...``: API tokens from the command line (create, list, revoke).

``create`` prints the token alone on stdout (scripts capture it: it is shown this once) and its id and
expiry on stderr; ``list`` shows ids, never secrets; ``revoke`` takes an id or a unique start of one.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from kolokol.auth.cli_support import CommandError, table, with_database
from kolokol.auth.roles import ROLES
from kolokol.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    Sessions = async_sessionmaker[AsyncSession]

_DURATION = re.compile(r"([1-9][0-9]{0,5})\s*([mhdw])")
_UNIT = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
# Longer than any sensible rotation; beyond it, leave the token without an expiry on purpose.
MAX_LIFETIME = timedelta(days=10 * 366)


def parse_duration(text: str) -> timedelta:
    """ "90d", "12h", "30m", "2w" -> a timedelta; ValueError for anything else."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError("a duration is a whole number and a unit: 30m, 12h, 90d or 2w")
    lifetime = timedelta(**{_UNIT[match.group(2)]: int(match.group(1))})
    if lifetime > MAX_LIFETIME:
        raise ValueError("at most 10 years (leave --expires-in out for a token that does not expire)")
    return lifetime


def _duration_argument(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_token_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    token = sub.add_parser("token", parents=[common], help="API tokens: create, list, revoke")
    commands = token.add_subparsers(dest="token_command", required=True)
    create = commands.add_parser("create", parents=[common], help="print a new API token (shown once)")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", required=True, help="what or who it is for (shown by list)")
    create.add_argument(
        "--expires-in",
        type=_duration_argument,
        metavar="DURATION",
        help="it stops working after this long: 30m, 12h, 90d, 2w (default: never)",
    )
    commands.add_parser("list", parents=[common], help="list tokens: id, name, role, state, dates")
    revoke = commands.add_parser(
        "revoke", parents=[common], help="revoke a token at once (its feed connections close too)"
    )
    revoke.add_argument("id", metavar="ID", help="the token's id, or a unique start of it (6+ digits)")


def _now() -> datetime:
    return datetime.now(UTC)


def _when(moment: datetime | None) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%MZ}" if moment is not None else "-"


async def _create(sessions: Sessions, args: argparse.Namespace) -> str:
    from kolokol.auth.tokens import issue_token

    now = _now()
    expires_at = now + args.expires_in if args.expires_in is not None else None
    async with sessions.begin() as session:
        made = await issue_token(session, name=args.name, role=args.role, now=now, expires_at=expires_at)
    until = f"expires {_when(made.expires_at)}" if made.expires_at else "does not expire"
    print(f"token {made.id} ({args.role}) {until}; it is shown only this once", file=sys.stderr)
    return made.secret


async def _list(sessions: Sessions, _args: argparse.Namespace) -> str:
    from kolokol.auth.tokens import list_tokens, token_state

    now = _now()
    async with sessions() as session:
        tokens = await list_tokens(session)
    if not tokens:
        return "no tokens yet: kolokol token create --role ROLE --name NAME"
    rows = [("ID", "ROLE", "STATE", "CREATED", "EXPIRES", "NAME")]
    for token in tokens:
        rows.append(
            (
                token.id,
                token.role,
                token_state(token, now),
                _when(token.created_at),
                _when(token.expires_at),
                token.name,
            )
        )
    return table(rows)


async def _revoke(sessions: Sessions, args: argparse.Namespace) -> str:
    from kolokol.auth.tokens import revoke_token

    async with sessions.begin() as session:
        token, revoked_now = await revoke_token(session, args.id, now=_now())
    if not revoked_now:
        return f"token {token.id} ({token.name}) was already revoked at {_when(token.revoked_at)}"
    return f"token {token.id} ({token.name}) revoked"


def run(settings: Settings, args: argparse.Namespace) -> int:
    from kolokol.auth.tokens import TokenError

    command: str = args.token_command
    handler = {"create": _create, "list": _list, "revoke": _revoke}[command]
    # Only create may make the database; list and revoke on a missing one say where they looked.
    existing = command in ("list", "revoke")
    try:
        message = asyncio.run(
            with_database(settings, lambda sessions: handler(sessions, args), must_exist=existing)
        )
    except (CommandError, TokenError) as exc:
        print(f"kolokol: {exc}", file=sys.stderr)
        return 2
    print(message)
    return 0
