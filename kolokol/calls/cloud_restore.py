"""Cloud calls in progress when kolokol stopped, read back from the webhook inbox after a start.

Live cloud calls are held in memory (``pbx.webhooks.live_calls``), but every event of them is in the inbox
and ``cloud_calls`` says which calls are still open. Read back, they put the calls on the screens again
with their caller, contacts and line, and the next event of each is an update of it, not a new call made
of that one event. Only calls that are open and not stale (their last event came within
``calls.stale_after_seconds``: the sweep closes the others) are read, newest first and at most as many as
the live calls held in memory, so a start after a long outage reads no more than that.

The calls that ended within that window come back too, as ended (``recently_ended``): a late or
re-delivered event of a call recorded just before the restart must not pop its card again.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from kolokol.storage.tables import CloudCall, WebhookEvent
from pbx.webhooks.base import CloudEvent
from pbx.webhooks.live_calls import Fresh

_CHUNK = 400


async def open_calls_events(
    session: AsyncSession, providers: Collection[str], *, heard_since: datetime, limit: int
) -> Fresh:
    """The stored events (with the time each arrived) of the open calls last heard of since then."""
    if not providers or limit <= 0:
        return {}
    keys = (
        await session.execute(
            select(CloudCall.provider, CloudCall.call_id)
            .where(
                CloudCall.state == "open",
                CloudCall.last_event_at >= heard_since,
                CloudCall.provider.in_(list(providers)),
            )
            .order_by(CloudCall.last_event_at.desc())
            .limit(limit)
        )
    ).all()
    by_provider: dict[str, list[str]] = {}
    for provider, call_id in keys:
        by_provider.setdefault(provider, []).append(call_id)
    stored: Fresh = {(provider, call_id): [] for provider, call_id in keys}
    columns = (
        WebhookEvent.call_id,
        WebhookEvent.dedupe_key,
        WebhookEvent.kind,
        WebhookEvent.final,
        WebhookEvent.occurred_at,
        WebhookEvent.data,
        WebhookEvent.received_at,
    )
    for provider, call_ids in by_provider.items():
        for start in range(0, len(call_ids), _CHUNK):
            # One provider at a time: both databases then search (provider, call_id) in the index.
            rows = await session.execute(
                select(*columns)
                .where(
                    WebhookEvent.provider == provider,
                    WebhookEvent.call_id.in_(call_ids[start : start + _CHUNK]),
                )
                .order_by(WebhookEvent.id)
            )
            for call_id, key, kind, final, occurred_at, data, received_at in rows.all():
                event = CloudEvent(call_id, key, kind, final, occurred_at, data)
                stored[(provider, call_id)].append((event, received_at))
    return stored


async def recently_ended(
    session: AsyncSession, providers: Collection[str], *, heard_since: datetime, limit: int
) -> list[tuple[tuple[str, str], datetime]]:
    """The calls that ended (final event in, recorded or closed by the sweep) and were last heard of
    since then, each with when: the newest ``limit`` of them, oldest first."""
    if not providers or limit <= 0:
        return []
    rows = (
        await session.execute(
            select(CloudCall.provider, CloudCall.call_id, CloudCall.last_event_at)
            .where(
                CloudCall.state != "open",
                CloudCall.last_event_at >= heard_since,
                CloudCall.provider.in_(list(providers)),
            )
            .order_by(CloudCall.last_event_at.desc())
            .limit(limit)
        )
    ).all()
    return [((provider, call_id), last_event_at) for provider, call_id, last_event_at in reversed(rows)]
