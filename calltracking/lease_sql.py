"""The lease engine's statements, as SQL text per database, run on the raw DBAPI cursor.

A session open or a heartbeat is a few short statements; through SQLAlchemy's per-statement machinery
(compiled cache lookup, execution context, result wrapping, type processors) each cost the lease thread
five to eight times what the database took. Here they are plain SQL on the driver's cursor, with the two
conversions the column types did done by hand, so that every row reads back through SQLAlchemy exactly as
if SQLAlchemy had written it:
- ``UtcDateTime`` on SQLite is text ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC, no zone; compared as text, so
  the format must match to the character); on PostgreSQL a ``timestamptz`` bound from an aware value;
- ``JSON`` on SQLite is text.
Differences between the two: placeholders (``?`` / ``%s``), row locks (PostgreSQL only: SQLite's writer
holds the database's write lock), and taking a free number: one statement on PostgreSQL (pick with
``FOR UPDATE SKIP LOCKED``, insert the lease, mark the number), two on SQLite (insert the lease from the
pick, mark the number); and a heartbeat's renewal: one statement on PostgreSQL (a round trip each), two on
SQLite.
"""

# The statements are composed from this module's own constants only (no value ever goes into the text).
# ruff: noqa: S608

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

SESSION_COLUMNS = (
    "id, created_at, last_seen_at, channel, source, medium, campaign, content, term, gclid, yclid, "
    "fbclid, landing_page, referrer"
)
_LEASE_COLUMNS = "pool_id, number, session_id, overflow, started_at, confirmed_at, last_heartbeat_at, ends_at"
_FREE = "pool_id = ? AND state = 'active' AND (leased_until IS NULL OR leased_until <= ?)"
_FREE_ORDER = "ORDER BY last_leased_at ASC NULLS FIRST, number LIMIT 1"
_EXTEND_NUMBER = (
    "UPDATE pool_numbers SET leased_until = ? WHERE number = ? AND lease_id = ? AND state = 'active' "
    "AND leased_until > ?"
)


@dataclass(frozen=True, slots=True)
class Statements:
    site: str
    session: str
    seen: str
    beat_session: str
    new_session: str
    unconfirmed: str
    address_turn: str
    last_lease: str
    extend_number: str
    renew: str
    renew_beat: str
    extend_and_renew_beat: str
    new_overflow: str
    # Take a free number (params: see LeaseCursor.take); the preferred variant names the number too.
    take_free: str
    take_preferred: str
    # SQLite only: mark the number taken by take_* (PostgreSQL's take does it in the same statement).
    hold: str


def _statements(postgres: bool) -> Statements:
    lock = " FOR UPDATE" if postgres else ""
    json_rows, json_row = ("json_agg", "json_build_array") if postgres else ("json_group_array", "json_array")
    if postgres:
        pick = f"SELECT number FROM pool_numbers WHERE {_FREE}{{also}} {_FREE_ORDER} FOR UPDATE SKIP LOCKED"
        take = (
            f"WITH picked AS ({pick}), "
            f"lease AS (INSERT INTO leases ({_LEASE_COLUMNS}) "
            "SELECT CAST(? AS integer), number, CAST(? AS varchar), false, CAST(? AS timestamptz), "
            "CAST(? AS timestamptz), CAST(? AS timestamptz), CAST(? AS timestamptz) FROM picked "
            "RETURNING id, number) "
            "UPDATE pool_numbers SET session_id = CAST(? AS varchar), lease_id = lease.id, "
            "leased_until = CAST(? AS timestamptz), last_leased_at = CAST(? AS timestamptz) "
            "FROM lease WHERE pool_numbers.number = lease.number RETURNING lease.id, lease.number"
        )
    else:
        take = (
            f"INSERT INTO leases ({_LEASE_COLUMNS}) SELECT ?, number, ?, 0, ?, ?, ?, ? "
            f"FROM pool_numbers WHERE {_FREE}{{also}} {_FREE_ORDER} RETURNING id, number"
        )
    sql = Statements(
        site=(
            "SELECT s.id, s.origins, s.hold_seconds, s.heartbeat_seconds, s.max_lease_seconds, "
            "s.source_numbers, p.id, p.replaces, p.fallback, p.channel FROM tracking_sites s "
            "LEFT OUTER JOIN tracking_pools p ON p.site_id = s.id AND p.retired_at IS NULL "
            "WHERE s.id = ? ORDER BY p.id"
        ),
        # Locked so that two tabs of one visitor renewing at once take one lease per pool, not two.
        session=f"SELECT {SESSION_COLUMNS} FROM visitor_sessions WHERE id = ? AND site_id = ?{lock}",
        # The analytics cookies may have appeared since the first page (the counters load late).
        seen=(
            "UPDATE visitor_sessions SET last_seen_at = ?, ga_client_id = coalesce(ga_client_id, ?), "
            "ym_client_id = coalesce(ym_client_id, ?) WHERE id = ?"
        ),
        # A heartbeat's session, seen now, while it lives (the row locked until the transaction ends); its
        # last column is its last lease in each pool, as JSON: [[pool_id, id, number, overflow,
        # started_at, confirmed_at, ends_at], …] (times as text; null on PostgreSQL when it has none).
        # One statement instead of one more per pool.
        beat_session=(
            "UPDATE visitor_sessions SET last_seen_at = ? WHERE id = ? AND site_id = ? AND last_seen_at > ? "
            f"AND created_at > ? RETURNING {SESSION_COLUMNS}, (SELECT {json_rows}({json_row}(l.pool_id, "
            "l.id, l.number, l.overflow, l.started_at, l.confirmed_at, l.ends_at)) FROM leases l "
            "WHERE l.id IN "
            "(SELECT max(m.id) FROM leases m WHERE m.session_id = visitor_sessions.id GROUP BY m.pool_id))"
        ),
        new_session=(
            "INSERT INTO visitor_sessions (id, site_id, created_at, last_seen_at, consent, channel, source, "
            "medium, campaign, content, term, landing_page, referrer, gclid, yclid, fbclid, ga_client_id, "
            "ym_client_id, address) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ),
        unconfirmed=(
            "SELECT count(DISTINCT v.id) FROM visitor_sessions v JOIN leases l ON l.session_id = v.id "
            "WHERE v.site_id = ? AND v.created_at >= ? AND v.address = ? AND l.confirmed_at IS NULL "
            "AND NOT l.overflow AND l.ends_at > ?"
        ),
        # PostgreSQL: one transaction at a time counts (and then opens) one address's sessions on a site,
        # until it commits; without it two opens at once both count the same sessions and both pass.
        address_turn="SELECT pg_advisory_xact_lock(hashtextextended(?, 0))",
        last_lease=(
            "SELECT id, number, overflow, started_at, confirmed_at, ends_at FROM leases "
            "WHERE session_id = ? AND pool_id = ? ORDER BY id DESC LIMIT 1"
        ),
        # Move a number's lease end, only while this very lease holds it and it is in rotation.
        extend_number=_EXTEND_NUMBER,
        renew="UPDATE leases SET ends_at = ? WHERE id = ?",
        renew_beat=(
            "UPDATE leases SET ends_at = ?, last_heartbeat_at = ?, confirmed_at = coalesce(confirmed_at, ?) "
            "WHERE id = ?"
        ),
        # PostgreSQL: extend_number, then renew_beat only when it moved the number's end (one round trip).
        extend_and_renew_beat=(
            f"WITH held AS ({_EXTEND_NUMBER} RETURNING number) UPDATE leases SET ends_at = ?, "
            "last_heartbeat_at = ?, confirmed_at = coalesce(confirmed_at, ?) WHERE id = ? "
            "AND EXISTS (SELECT 1 FROM held)"
            if postgres
            else ""
        ),
        new_overflow=f"INSERT INTO leases ({_LEASE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        take_free=take.format(also=""),
        take_preferred=take.format(also=" AND number = ?"),
        hold=(
            "UPDATE pool_numbers SET session_id = ?, lease_id = ?, leased_until = ?, last_leased_at = ? "
            "WHERE number = ?"
        ),
    )
    if not postgres:
        return sql
    # No '?' in the text but placeholders, and no '%' to escape.
    return Statements(*(getattr(sql, name).replace("?", "%s") for name in Statements.__slots__))


_POSTGRES = _statements(postgres=True)
_SQLITE = _statements(postgres=False)


def sqlite_time(value: datetime) -> str:
    """What SQLAlchemy's SQLite ``DateTime`` stores for a UTC value: ``YYYY-MM-DD HH:MM:SS.ffffff``
    (the microseconds always written)."""
    return value.replace(tzinfo=None).isoformat(" ", "microseconds")


class LeaseCursor:
    """The transaction's DBAPI cursor with the statements of its database. Errors come out as
    SQLAlchemy's (``DBAPIError``), as the retry on a lost race expects."""

    def __init__(self, db: Connection) -> None:
        self.postgres = db.dialect.name == "postgresql"
        self.sql = _POSTGRES if self.postgres else _SQLITE
        self._dialect = db.dialect
        raw = db.connection.dbapi_connection
        assert raw is not None
        self._cursor = raw.cursor()
        # A request writes its "now" several times: the last time given and its text.
        self._last_time: datetime | None = None
        self._last_text = ""

    def close(self) -> None:
        self._cursor.close()

    def __enter__(self) -> LeaseCursor:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def time(self, value: datetime | None) -> Any:
        if value is None or self.postgres:
            return value
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        if value != self._last_time:
            self._last_time, self._last_text = value, sqlite_time(value.astimezone(UTC))
        return self._last_text

    def read_time(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    @staticmethod
    def read_json(value: Any) -> Any:
        return json.loads(value) if isinstance(value, str | bytes) else value

    def execute(self, statement: str, params: Sequence[Any]) -> int:
        """Run a statement; the rows it changed."""
        try:
            self._cursor.execute(statement, params)
        except self._dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(statement, params, exc, self._dialect.loaded_dbapi.Error) from exc
        return int(self._cursor.rowcount or 0)

    def one(self, statement: str, params: Sequence[Any]) -> tuple[Any, ...] | None:
        self.execute(statement, params)
        row = self._cursor.fetchone()
        # Drain what is left (a RETURNING statement is complete only once read whole on SQLite).
        if row is not None:
            self._cursor.fetchall()
        return None if row is None else tuple(row)

    def all(self, statement: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        self.execute(statement, params)
        return [tuple(row) for row in self._cursor.fetchall()]
