"""The webhook inbox's statements: storing a batch of deliveries and moving their calls along, finding
the calls whose record must be (re)built, reading their events back, and unmarking them once built.

Run inside a transaction the caller owns (``kolokol.calls.cloud_intake`` runs them whole in a writer
thread). The statements are built once, with Core on the tables: a store is on every webhook's path and
pays for neither building them nor the ORM's machinery. SQLite stores in two statements; PostgreSQL in
one (``_PG_STORE``), run on its own (autocommit).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, cast

from sqlalchemy import Executable, Table, bindparam, case, func, select, text, update
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from kolokol.storage.tables import CloudCall, WebhookEvent
from pbx.webhooks.base import CloudEvent
from pbx.webhooks.live_calls import Fresh

_CHUNK = 400


class Delivery(Protocol):
    """The events of one webhook request, as they came."""

    @property
    def provider(self) -> str: ...
    @property
    def events(self) -> Sequence[CloudEvent]: ...
    @property
    def received_at(self) -> datetime: ...


@dataclass(frozen=True, slots=True)
class PendingCall:
    provider: str
    call_id: str
    state: str
    revision: int


def store_events(session: Session, batch: Sequence[Delivery]) -> tuple[Fresh, bool]:
    """One store: the new events, and whether some call now needs building."""
    candidates: dict[tuple[str, str], tuple[CloudEvent, datetime]] = {}
    for delivery in batch:
        for event in delivery.events:
            candidates.setdefault((delivery.provider, event.dedupe_key), (event, delivery.received_at))
    if _dialect(session) == "postgresql":
        stored, to_build = _store_in_one_statement(session, candidates)
        return _by_call(candidates, stored), to_build
    fresh = _by_call(candidates, _insert_new(session, candidates))
    return fresh, bool(fresh) and _advance(session, fresh)


def _by_call(
    candidates: Mapping[tuple[str, str], tuple[CloudEvent, datetime]], stored: set[tuple[str, str]]
) -> Fresh:
    """The events just stored (not seen before), grouped by call."""
    by_call: Fresh = {}
    for key, pair in candidates.items():
        if key in stored:
            by_call.setdefault((key[0], pair[0].call_id), []).append(pair)
    return by_call


def _insert_new(
    session: Session, candidates: Mapping[tuple[str, str], tuple[CloudEvent, datetime]]
) -> set[tuple[str, str]]:
    """Store the events not seen before; returns their keys."""
    rows = [
        {
            "provider": provider,
            "call_id": event.call_id,
            "dedupe_key": event.dedupe_key,
            "kind": event.kind,
            "final": event.final,
            "occurred_at": event.occurred_at,
            "received_at": received_at,
            "data": dict(event.data),
        }
        for (provider, _), (event, received_at) in candidates.items()
    ]
    # One statement stores the new events and names them; a duplicate (already stored, or stored by
    # another node a moment ago) is skipped by the unique key instead of failing the batch.
    inserted = session.connection().execute(_SQLITE_STORE.events, rows)
    return {(provider, key) for provider, key in inserted.all()}


def _advance(session: Session, fresh: Fresh) -> bool:
    """Move each touched call along in one upsert; returns whether any now needs building.

    States: ``open`` (no final event yet), ``final`` (final event in, record not complete yet: some
    providers need every leg), ``recorded``, ``timed_out`` (closed by the sweep). Every new event of
    a call that is not ``open`` marks it pending, and bumps its revision so a build that read an
    older revision does not clear the mark.
    """
    rows = [
        {
            "provider": provider,
            "call_id": call_id,
            "state": "final" if (final := any(event.final for event, _ in pairs)) else "open",
            "pending": final,
            "revision": 1,
            "first_event_at": min(received for _, received in pairs),
            "last_event_at": max(received for _, received in pairs),
        }
        # In key order, as builds clear their marks: two writers locking the same calls never deadlock.
        for (provider, call_id), pairs in sorted(fresh.items(), key=lambda item: item[0])
    ]
    advanced = session.connection().execute(_SQLITE_STORE.advance, rows)
    return any(pending for (pending,) in advanced.all())


@dataclass(frozen=True, slots=True)
class _StoreStatements:
    events: Executable
    advance: Executable


def _sqlite_store() -> _StoreStatements:
    """SQLite's two statements of every store, built once: Core on the tables, so a store pays for
    neither building them nor the ORM's bulk machinery (the store is on every webhook's path)."""
    events, calls = cast(Table, WebhookEvent.__table__), cast(Table, CloudCall.__table__)
    new_events = (
        sqlite.insert(events)
        .on_conflict_do_nothing(index_elements=["provider", "dedupe_key"])
        .returning(events.c.provider, events.c.dedupe_key)
    )
    touched = sqlite.insert(calls)
    was_open = calls.c.state == "open"
    advance = touched.on_conflict_do_update(
        index_elements=["provider", "call_id"],
        set_={
            "last_event_at": func.max(calls.c.last_event_at, touched.excluded.last_event_at),
            "state": case((was_open, touched.excluded.state), else_=calls.c.state),
            "pending": case((was_open, touched.excluded.pending), else_=True),
            "revision": calls.c.revision + 1,
        },
    ).returning(calls.c.pending)
    return _StoreStatements(new_events, advance)


_SQLITE_STORE = _sqlite_store()

# PostgreSQL stores in one statement, run on its own (autocommit): one round trip per store instead of
# four (BEGIN, the events, the calls, COMMIT). The events come as arrays (one statement text whatever
# their number); the calls are moved along from the events just inserted, in key order (as builds clear
# their marks: two writers locking the same calls never deadlock), with the same rules as SQLite's upsert.
_PG_STORE = text("""
WITH new AS (
    INSERT INTO webhook_events (provider, call_id, dedupe_key, kind, final, occurred_at, received_at, data)
    SELECT provider, call_id, dedupe_key, kind, final, occurred_at, received_at, CAST(data AS json)
    FROM unnest(
        CAST(:provider AS text[]), CAST(:call_id AS text[]), CAST(:dedupe_key AS text[]),
        CAST(:kind AS text[]), CAST(:final AS boolean[]), CAST(:occurred_at AS timestamptz[]),
        CAST(:received_at AS timestamptz[]), CAST(:data AS text[])
    ) AS e(provider, call_id, dedupe_key, kind, final, occurred_at, received_at, data)
    ON CONFLICT (provider, dedupe_key) DO NOTHING
    RETURNING provider, call_id, dedupe_key, final, received_at
), touched AS (
    INSERT INTO cloud_calls AS c (provider, call_id, state, pending, revision, first_event_at, last_event_at)
    SELECT provider, call_id, CASE WHEN bool_or(final) THEN 'final' ELSE 'open' END, bool_or(final), 1,
           min(received_at), max(received_at)
    FROM new GROUP BY provider, call_id ORDER BY provider, call_id
    ON CONFLICT (provider, call_id) DO UPDATE SET
        last_event_at = greatest(c.last_event_at, excluded.last_event_at),
        state = CASE WHEN c.state = 'open' THEN excluded.state ELSE c.state END,
        pending = CASE WHEN c.state = 'open' THEN excluded.pending ELSE true END,
        revision = c.revision + 1
    RETURNING pending
)
SELECT provider, dedupe_key, CAST(NULL AS boolean) FROM new
UNION ALL
SELECT NULL, NULL, pending FROM touched
""")


def _store_in_one_statement(
    session: Session, candidates: Mapping[tuple[str, str], tuple[CloudEvent, datetime]]
) -> tuple[set[tuple[str, str]], bool]:
    """PostgreSQL's store: the keys of the events not seen before, and whether a call needs building."""
    columns: dict[str, list[Any]] = {
        name: []
        for name in (
            "provider",
            "call_id",
            "dedupe_key",
            "kind",
            "final",
            "occurred_at",
            "received_at",
            "data",
        )
    }
    for (provider, _), (event, received_at) in candidates.items():
        columns["provider"].append(provider)
        columns["call_id"].append(event.call_id)
        columns["dedupe_key"].append(event.dedupe_key)
        columns["kind"].append(event.kind)
        columns["final"].append(event.final)
        columns["occurred_at"].append(event.occurred_at)
        columns["received_at"].append(received_at)
        columns["data"].append(json.dumps(dict(event.data)))
    stored: set[tuple[str, str]] = set()
    to_build = False
    for provider, key, pending in session.connection().execute(_PG_STORE, columns).all():
        if provider is not None:
            stored.add((provider, key))
        to_build = to_build or bool(pending)
    return stored, to_build


def clear_pending(session: Session, calls: Sequence[PendingCall], built: set[tuple[str, str]]) -> None:
    """Unmark the calls just built, unless an event came in since (their revision moved on)."""
    if not calls:
        return
    session.connection().execute(
        _CLEAR_PENDING,
        [
            {
                "p": c.provider,
                "c": c.call_id,
                "r": c.revision,
                "s": "recorded" if (c.provider, c.call_id) in built else "final",
            }
            for c in sorted(calls, key=lambda c: (c.provider, c.call_id))
        ],
    )


def pending_calls(session: Session, providers: Sequence[str], limit: int) -> list[PendingCall]:
    """The calls whose record must be (re)built, those whose last event came first."""
    rows = session.connection().execute(_PENDING_CALLS, {"providers": list(providers), "limit": limit})
    return [PendingCall(*row) for row in rows.all()]


def events_of(session: Session, calls: Sequence[PendingCall]) -> dict[tuple[str, str], list[CloudEvent]]:
    """All the stored events of each call."""
    events: dict[tuple[str, str], list[CloudEvent]] = {(c.provider, c.call_id): [] for c in calls}
    by_provider: dict[str, list[str]] = {}
    for provider, call_id in events:
        by_provider.setdefault(provider, []).append(call_id)
    connection = session.connection()
    for provider, call_ids in by_provider.items():
        for start in range(0, len(call_ids), _CHUNK):
            rows = connection.execute(
                _EVENTS_OF, {"provider": provider, "ids": call_ids[start : start + _CHUNK]}
            )
            for call_id, key, kind, final, occurred_at, data in rows.all():
                events[(provider, call_id)].append(CloudEvent(call_id, key, kind, final, occurred_at, data))
    return events


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


# The statements of every build, built once (Core on the tables: no ORM machinery on the hot path).
_CLOUD_CALLS = cast(Table, CloudCall.__table__)
_INBOX = cast(Table, WebhookEvent.__table__)
_PENDING_CALLS = (
    select(_CLOUD_CALLS.c.provider, _CLOUD_CALLS.c.call_id, _CLOUD_CALLS.c.state, _CLOUD_CALLS.c.revision)
    .where(_CLOUD_CALLS.c.pending, _CLOUD_CALLS.c.provider.in_(bindparam("providers", expanding=True)))
    .order_by(_CLOUD_CALLS.c.last_event_at)
    .limit(bindparam("limit"))
)
# ``provider = ? AND call_id IN (...)``: both databases search the index with it (SQLite scans the whole
# table for a row-value ``(provider, call_id) IN (...)``).
_EVENTS_OF = select(
    _INBOX.c.call_id,
    _INBOX.c.dedupe_key,
    _INBOX.c.kind,
    _INBOX.c.final,
    _INBOX.c.occurred_at,
    _INBOX.c.data,
).where(_INBOX.c.provider == bindparam("provider"), _INBOX.c.call_id.in_(bindparam("ids", expanding=True)))
# An executemany keyed by revision, which ORM bulk updates (by primary key) are not.
_CLEAR_PENDING = (
    update(_CLOUD_CALLS)
    .where(
        _CLOUD_CALLS.c.provider == bindparam("p"),
        _CLOUD_CALLS.c.call_id == bindparam("c"),
        _CLOUD_CALLS.c.revision == bindparam("r"),
    )
    .values(
        pending=False,
        state=case((_CLOUD_CALLS.c.state == "final", bindparam("s")), else_=_CLOUD_CALLS.c.state),
    )
)
