"""Records from any PBX fitted to the call log's columns: what fits is kept as it is, what does not is
cut (ending in "…"), repaired, and a long call id stays distinct."""

from __future__ import annotations

import dataclasses
import importlib
from datetime import timedelta

from sqlalchemy import String

from kolokol.calls.record_fit import (
    CALL_ID_CHARS,
    EXTENSION_CHARS,
    NAME_CHARS,
    NUMBER_CHARS,
    PHONE_NUMBER_CHARS,
    fitted_key,
    fitted_record,
)
from kolokol.storage.tables import Call
from pbx.call_record import Transfer
from tests.support.call_records import T0, missed


def test_a_record_that_fits_is_the_same_record() -> None:
    record = missed(1, "+79161234567")
    assert fitted_record(record) is record


def test_the_limits_are_the_columns() -> None:
    columns = {
        name: column.type.length
        for name, column in Call.__table__.c.items()
        if isinstance(column.type, String)
    }
    assert (
        columns["caller_name"],
        columns["caller"],
        columns["operator"],
    ) == (NAME_CHARS, NUMBER_CHARS, EXTENSION_CHARS)
    assert (
        columns["pbx_call_id"],
        columns["outside_number"],
    ) == (CALL_ID_CHARS, PHONE_NUMBER_CHARS)


def test_long_text_is_cut_to_its_column_and_says_so() -> None:
    name = "Пётр Иванович " * 100
    long_ext = "SIP/" + "9" * 60
    record = dataclasses.replace(
        missed(1, "+79161234567"),
        caller_name=name,
        called="sip:" + "x" * 300,
        rang=(long_ext + "a", long_ext + "b", "101"),
        transfers=(Transfer(long_ext, "102", "blind", T0 + timedelta(seconds=5)),),
    )
    fitted = fitted_record(record)
    assert fitted.caller_name is not None and len(fitted.caller_name) == NAME_CHARS
    assert fitted.caller_name == name[: NAME_CHARS - 1] + "…"
    assert len(fitted.called) == NUMBER_CHARS and fitted.called.endswith("…")
    # Two phones whose names differ only past the column become one phone.
    assert fitted.rang == (long_ext[: EXTENSION_CHARS - 1] + "…", "101")
    [transfer] = fitted.transfers
    assert (transfer.from_ext, transfer.to_ext) == (long_ext[: EXTENSION_CHARS - 1] + "…", "102")
    assert (fitted.caller, fitted.status, fitted.started_at) == (
        record.caller,
        record.status,
        record.started_at,
    )


def test_a_number_written_as_e164_fits_the_outside_number_its_task_is_opened_for() -> None:
    record = missed(1, "+7" + "9" * 90)
    fitted = fitted_record(record)
    assert fitted.outside_number is not None
    assert len(fitted.outside_number) == PHONE_NUMBER_CHARS


def test_text_utf8_cannot_carry_is_repaired() -> None:
    record = dataclasses.replace(missed(1, "+79161234567"), caller_name="\ud800Анна", operator="10\x001")
    fitted = fitted_record(record)
    assert (fitted.caller_name, fitted.operator) == ("\ufffdАнна", "10\ufffd1")


def test_long_call_ids_stay_distinct_and_are_cut_as_the_migration_cut_the_stored_ones() -> None:
    first, second = "linked-" + "1" * 300, "linked-" + "1" * 299 + "2"
    a, b = fitted_key(first, CALL_ID_CHARS), fitted_key(second, CALL_ID_CHARS)
    assert a != b and len(a) == len(b) == CALL_ID_CHARS
    assert fitted_key(first, CALL_ID_CHARS) == a, "the same call id is always cut the same way"
    assert fitted_key("1763999.42", CALL_ID_CHARS) == "1763999.42"
    migration = importlib.import_module("kolokol.storage.migrations.versions.0005_bounded_text")
    assert migration._fitted(first, CALL_ID_CHARS, key=True) == a
    assert fitted_record(dataclasses.replace(missed(1, "+79161234567"), pbx_call_id=first)).pbx_call_id == a
