"""The AMI events of Asterisk calls in progress, kept in the database so that a restart loses none of them.

AMI does not replay what happened while kolokol was away, and a call's record needs all of its events:
who rang, who answered, when. So every event the assembler takes for a call in progress is written to the
inbox (``webhook_events``, provider ``asterisk``, filed under the channel it is about) as it arrives, and a
call's events are removed in the same transaction that stores its record. Whatever is in the journal when
kolokol starts — the calls in progress when it stopped, by a shutdown or a crash — is fed to the assembler
again before AMI connects: those calls are back on the screens as they stood and go on as if kolokol had
never stopped; Asterisk's list of live channels then settles the ones that ended meanwhile.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kolokol.storage.tables import WebhookEvent

PROVIDER = "asterisk"
_CHUNK = 400
AmiEvent = Mapping[str, str]
# An event to keep: the channel it is filed under, the event, when it arrived.
Entry = tuple[str, AmiEvent, datetime]


def channel_ids(event: AmiEvent) -> list[str]:
    """The channels an event is about (``Uniqueid``, ``DestUniqueid``, ``TransfererUniqueid``, …), its own
    channel first; bridges are not channels."""
    ids = [event.get("Uniqueid", "")]
    ids += [
        value
        for key, value in event.items()
        if key.endswith("Uniqueid") and key != "Uniqueid" and "Bridge" not in key
    ]
    return [uniqueid for uniqueid in dict.fromkeys(ids) if uniqueid]


class AmiJournal:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        # Keys unique across processes: a restarted kolokol appends to the journal its predecessor left.
        self._prefix = f"ami:{secrets.token_hex(6)}:"
        self._written = 0

    async def load(self) -> list[tuple[dict[str, str], datetime]]:
        """Every kept event, in the order it arrived, with the time it arrived."""
        async with self._sessions() as session:
            rows = await session.execute(
                select(WebhookEvent.data, WebhookEvent.received_at)
                .where(WebhookEvent.provider == PROVIDER)
                .order_by(WebhookEvent.id)
            )
            return [
                ({str(k): str(v) for k, v in data.items()}, received_at) for data, received_at in rows.all()
            ]

    async def append(self, entries: Sequence[Entry]) -> None:
        """Keep these events (one transaction)."""
        if not entries:
            return
        rows = []
        for channel, event, received_at in entries:
            self._written += 1
            rows.append(
                {
                    "provider": PROVIDER,
                    "call_id": channel,
                    "dedupe_key": f"{self._prefix}{self._written}",
                    "kind": event.get("Event", "")[:40],
                    "final": False,
                    "occurred_at": _event_time(event) or received_at,
                    "received_at": received_at,
                    "data": dict(event),
                }
            )
        async with self._sessions.begin() as session:
            await session.execute(insert(WebhookEvent), rows)

    async def forget(self, session: AsyncSession, channels: Collection[str]) -> None:
        """Drop the events of these channels (in the transaction that stores their calls' records)."""
        ordered = sorted(channels)
        for start in range(0, len(ordered), _CHUNK):
            await session.execute(
                delete(WebhookEvent).where(
                    WebhookEvent.provider == PROVIDER,
                    WebhookEvent.call_id.in_(ordered[start : start + _CHUNK]),
                )
            )


def _event_time(event: AmiEvent) -> datetime | None:
    try:
        return datetime.fromtimestamp(float(event.get("Timestamp", "")), tz=UTC)
    except (ValueError, OverflowError, OSError):
        return None
