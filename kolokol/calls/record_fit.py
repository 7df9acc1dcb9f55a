"""Every call record, from any PBX, fitted to the call log's columns before it is stored.

The PBXs decide what they send: an Asterisk caller name of a thousand characters, a cloud PBX's text
stored before the webhook entry checked it, a lone surrogate from an old inbox row. The call log refuses
text longer than its column on both databases (migration 0005), so a record that does not fit would never
be stored, and with it would go its contacts, its first-time flag and its callback task. Fitted, it keeps
what can be kept: text repaired (what UTF-8 cannot carry becomes U+FFFD) and cut to the column, ending in
"…"; the PBX's call id, a key, keeps its start and gets a digest of the whole, as migration 0005 cut the
ids already stored, so two long ids stay two calls and a late event of a call finds it again. A number
written as E.164 ("+…") fits the outside-number column (40): it names a callback task. Pure.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import cast

from sqlalchemy import String, Table

from kolokol.storage.tables import Call
from pbx.call_record import PbxCallRecord, Transfer
from pbx.untrusted import fitted, repaired
from pbx.webhooks.base import unique

ELLIPSIS = "…"
_DIGEST_CHARS = 16


def _length(column: str) -> int:
    length = cast(String, cast(Table, Call.__table__).c[column].type).length
    assert length is not None, column
    return length


CALL_ID_CHARS = _length("pbx_call_id")
NUMBER_CHARS = _length("caller")  # caller, called
PHONE_NUMBER_CHARS = _length("outside_number")  # caller, called written as E.164
NAME_CHARS = _length("caller_name")
EXTENSION_CHARS = _length("operator")  # operator, answered_by, rang, transfers


def fitted_record(record: PbxCallRecord) -> PbxCallRecord:
    """The record as the call log can hold it (the same record when it already fits)."""
    # Two long names may be cut to one.
    rang = tuple(unique(fitted(r, EXTENSION_CHARS) for r in record.rang))
    transfers = tuple(_transfer(t) for t in record.transfers)
    result = dataclasses.replace(
        record,
        pbx_call_id=fitted_key(record.pbx_call_id, CALL_ID_CHARS),
        caller=_number(record.caller),
        caller_name=fitted(record.caller_name, NAME_CHARS) or None,
        called=_number(record.called),
        operator=fitted(record.operator, EXTENSION_CHARS) or None,
        answered_by=fitted(record.answered_by, EXTENSION_CHARS) or None,
        rang=rang,
        transfers=transfers,
        recording_file=repaired(record.recording_file) if record.recording_file else record.recording_file,
    )
    return record if result == record else result


def fitted_key(value: str, limit: int) -> str:
    """A key cut to ``limit`` characters that stays distinct: its start, "…~" and a digest of the whole
    (migration 0005's rule for the keys it cut)."""
    if len(value) <= limit and repaired(value) == value:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_CHARS]
    return repaired(value[: limit - _DIGEST_CHARS - 2]) + ELLIPSIS + "~" + digest


def _number(value: str) -> str:
    limit = PHONE_NUMBER_CHARS if value.startswith("+") else NUMBER_CHARS
    return fitted(value, limit)


def _transfer(transfer: Transfer) -> Transfer:
    return dataclasses.replace(
        transfer,
        from_ext=fitted(transfer.from_ext, EXTENSION_CHARS) or None,
        to_ext=fitted(transfer.to_ext, EXTENSION_CHARS) or None,
    )
