"""Which calls a user may read: supervisors and machines all of them, an operator those on their phones.

"On their phones" is any call an extension of theirs took part in: it handled the call (operator), picked
it up (answered_by), rang (rang), or made or took it directly (caller or called: outgoing and internal
calls). One rule for the call log, its CSV and a single call, so a call hidden from the list cannot be
read by its id either.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, cast, exists, false, func, literal_column, or_, select
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, array
from sqlalchemy.types import String

from kolokol.auth.principal import Principal
from kolokol.storage.tables import Call

SCOPED_ROLES = frozenset({"operator"})


def rang_any(extensions: tuple[str, ...], dialect: str) -> ColumnElement[bool]:
    """calls.rang (a JSON list of extensions) holds one of these."""
    if dialect == "postgresql":
        return cast(Call.rang, JSONB).op("?|")(cast(array(extensions), ARRAY(String)))
    rang = func.json_each(Call.rang).table_valued("value")
    return exists(select(literal_column("1")).select_from(rang).where(rang.c.value.in_(extensions)))


def on_extensions(extensions: tuple[str, ...], dialect: str) -> ColumnElement[bool]:
    """The calls these extensions took part in."""
    if not extensions:
        return false()
    return or_(
        Call.operator.in_(extensions),
        Call.answered_by.in_(extensions),
        Call.caller.in_(extensions),
        Call.called.in_(extensions),
        rang_any(extensions, dialect),
    )


def visible_to(principal: Principal, dialect: str) -> ColumnElement[bool] | None:
    """The condition limiting what this principal reads; None when they read every call."""
    if principal.role not in SCOPED_ROLES:
        return None
    return on_extensions(principal.extensions, dialect)
