"""``kolokol contacts import FILE``: a clinic's patient export into contacts.

An unreadable file changes nothing; in a readable one, rows that cannot be used are reported and skipped."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from kolokol.calls.wiring import make_phones
from kolokol.contacts.csv_parse import CsvUnreadable, parse_contacts_csv
from kolokol.contacts.store import ContactRejected, upsert_contact
from kolokol.settings import Settings
from kolokol.storage.engine import make_engine, make_sessionmaker
from kolokol.storage.migrate import upgrade
from kolokol.storage.write_lock import write_transaction


async def import_contacts_file(settings: Settings, path: Path) -> int:
    try:
        parsed = parse_contacts_csv(await asyncio.to_thread(path.read_bytes))
    except OSError as exc:
        print(f"kolokol contacts import: cannot read {path}: {exc.strerror}", file=sys.stderr)
        return 2
    except CsvUnreadable as exc:
        print(f"kolokol contacts import: {path}: {exc}", file=sys.stderr)
        return 2
    phones = make_phones(settings)
    engine = make_engine(settings.database.url)
    parse_problems = [f"line {e.line}: {e.message}" for e in parsed.errors]

    async def import_rows(session: AsyncSession) -> tuple[int, int, list[str]]:
        # Run again from the start if a concurrent writer (the REST API) created one of these contacts.
        created = updated = 0
        problems: list[str] = []
        for row in parsed.contacts:
            try:
                result = await upsert_contact(
                    session,
                    phones,
                    external_id=row.external_id,
                    name=row.name,
                    phones=row.phones,
                    fields=row.fields,
                )
            except ContactRejected as exc:
                problems.append(f"{row.external_id}: {exc}")
                continue
            created += result.created
            updated += not result.created
            problems.extend(f"{row.external_id}: not a phone number: {p!r}" for p in result.rejected_phones)
        return created, updated, problems

    try:
        await upgrade(engine)
        created, updated, row_problems = await write_transaction(make_sessionmaker(engine), import_rows)
    finally:
        await engine.dispose()
    problems = parse_problems + row_problems
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    print(f"{created} contacts created, {updated} updated, {len(problems)} warnings")
    return 0
