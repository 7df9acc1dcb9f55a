"""``kolokol contacts import FILE``: a clinic's patient export into contacts.

An unreadable file changes nothing; in a readable one, rows that cannot be used are reported and skipped."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from kolokol.calls.wiring import make_phones
from kolokol.contacts.csv_parse import CsvUnreadable, parse_contacts_csv
from kolokol.contacts.store import ContactRejected, upsert_contact
from kolokol.settings import Settings
from kolokol.storage.engine import make_engine, make_sessionmaker
from kolokol.storage.migrate import upgrade


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
    created = updated = 0
    problems = [f"line {e.line}: {e.message}" for e in parsed.errors]
    try:
        await upgrade(engine)
        async with make_sessionmaker(engine).begin() as session:
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
                problems.extend(
                    f"{row.external_id}: not a phone number: {p!r}" for p in result.rejected_phones
                )
    finally:
        await engine.dispose()
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    print(f"{created} contacts created, {updated} updated, {len(problems)} warnings")
    return 0
