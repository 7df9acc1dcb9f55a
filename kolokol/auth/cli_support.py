"""What the account commands (``kolokol user``, ``kolokol token``) share: errors, tables, the database.

Nothing here imports the database layer at module level: building the command line stays fast.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from kolokol.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

    Sessions = async_sessionmaker[AsyncSession]


class CommandError(Exception):
    """Ends the command with status 2 and this one line on stderr."""


def table(rows: Sequence[Sequence[str]]) -> str:
    """Rows as left-aligned columns (the first row is the header)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


async def with_database(
    settings: Settings, action: Callable[[Sessions], Awaitable[str]], *, must_exist: bool = False
) -> str:
    """Run `action` against the configured database, brought up to date first. With ``must_exist``
    (commands that read or change what is there) a missing database is an error naming where it was
    looked for, never a new empty one."""
    from kolokol.storage.engine import make_engine, make_sessionmaker
    from kolokol.storage.existing import NoDatabase, open_existing
    from kolokol.storage.migrate import upgrade

    if must_exist:
        try:
            engine = await open_existing(settings.database.url)
        except NoDatabase as exc:
            from kolokol.home import find_home

            raise CommandError(
                f"{exc} ({find_home().describe()}); kolokol serve or kolokol migrate creates it there,"
                " and --config FILE or $KOLOKOL_HOME point to another"
            ) from None
    else:
        engine = make_engine(settings.database.url)
    try:
        await upgrade(engine)
        result = await action(make_sessionmaker(engine))
    finally:
        await engine.dispose()
    return result
