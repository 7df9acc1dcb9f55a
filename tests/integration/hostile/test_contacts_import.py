"""`kolokol contacts import` of an export with broken and oversized rows: those rows are reported by line,
the others stored, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from kolokol.contacts.csv_import import import_contacts_file
from kolokol.settings import Settings
from kolokol.storage.engine import make_engine, make_sessionmaker
from kolokol.storage.tables import Contact
from tests.support.databases import reset_if_postgres


async def test_bad_rows_are_reported_by_line_and_the_rest_is_imported(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    await reset_if_postgres(db_url)
    export = tmp_path / "patients.csv"
    export.write_bytes(
        "Код;ФИО;Телефон;Комментарий\r\n".encode()
        + "1;Иванов Иван;+7 916 123-45-67;ок\r\n".encode()
        + b"2;\xd0\x9f\xd0\xb5\xd1\x82\xff;+7 916 123-45-68;\r\n"
        + f"3;{'Я' * 600};+7 916 123-45-69;\r\n".encode()
        + f"4;Смирнова Анна;+7 916 123-45-70;{'Ж' * 3000}\r\n".encode()
        + "5;Петрова Ольга;+7 916 123-45-71;ёлка\r\n".encode()
    )
    settings = Settings.model_validate({"database": {"url": db_url}})
    assert await import_contacts_file(settings, export) == 0
    out, err = capsys.readouterr()
    assert "2 contacts created, 0 updated, 3 warnings" in out
    assert "line 3: column 2 holds bytes that are not UTF-8 text" in err
    assert "line 4: name is longer than 500 characters" in err
    assert "line 5: fields.notes is longer than 2000 characters" in err
    assert "Я" * 50 not in err and "Ж" * 50 not in err
    engine = make_engine(db_url)
    try:
        async with make_sessionmaker(engine)() as session:
            stored = {c.external_id: c for c in (await session.scalars(select(Contact))).all()}
    finally:
        await engine.dispose()
    assert set(stored) == {"1", "5"}
    assert stored["5"].fields == {"notes": "ёлка"}
