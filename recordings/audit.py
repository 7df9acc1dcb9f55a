"""Who listened to which recording, when and from where: written as the audio is served, read by admins.

A playback is one row (``access_rules.starts_playback``): the seeks of a player within it are not
logged one by one. The row is written before the first byte is sent: a recording is not served when
its access could not be recorded.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import partial

from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from calltracking.rate_limit import ClientAddress
from kolokol.app_keys import SESSIONS
from kolokol.auth.api_guard import requires
from kolokol.http import query
from kolokol.http.json_response import json_response
from kolokol.storage.tables import RecordingAccess
from kolokol.storage.write_lock import write_transaction
from kolokol.times import iso
from recordings.access_rules import SAME_PLAYBACK, from_the_start, starts_playback

routes = web.RouteTableDef()
# The client's address, honouring X-Forwarded-For from tracking.trusted_proxies only.
ADDRESSES = web.AppKey("recording_audit_addresses", ClientAddress)
READ_AUDIT = frozenset({"admin"})


@dataclass(frozen=True, slots=True)
class Access:
    recording_id: str
    call_id: str
    who: str
    role: str | None
    via: str  # session | token | link
    action: str  # play | download | link
    address: str
    user_agent: str | None
    range: str | None


def describe(
    request: web.Request,
    *,
    recording_id: str,
    call_id: str,
    who: str,
    role: str | None,
    via: str,
    action: str,
) -> Access:
    """An access as this request makes it (address, user agent and range from the request)."""
    addresses = request.app.get(ADDRESSES)
    address = (
        addresses.of(request.remote, request.headers.get("X-Forwarded-For"))
        if addresses is not None
        else request.remote or "unknown"
    )
    user_agent = request.headers.get("User-Agent")
    requested = request.headers.get("Range")
    return Access(
        recording_id=recording_id,
        call_id=call_id,
        who=who[:100],
        role=role,
        via=via,
        action=action,
        address=address[:64],
        user_agent=user_agent[:200] if user_agent else None,
        range=requested[:64] if requested else None,
    )


class RecentPlaybacks:
    """Who this process recorded lately, by (recording, who, address): a player's seeks are answered
    from here without reading the database. Only ever says "recorded lately" when a row was written
    (by this process) within ``SAME_PLAYBACK``, so it cannot hide a playback; other nodes' rows are
    found in the database. Bounded: the least recently recorded are forgotten first."""

    def __init__(self, max_keys: int = 10_000) -> None:
        self._max_keys = max_keys
        self._at: OrderedDict[tuple[str, str, str], datetime] = OrderedDict()

    def recorded_lately(self, access: Access, now: datetime) -> bool:
        at = self._at.get(_key(access))
        return at is not None and now - at < SAME_PLAYBACK

    def remember(self, access: Access, at: datetime) -> None:
        key = _key(access)
        self._at[key] = at
        self._at.move_to_end(key)
        while len(self._at) > self._max_keys:
            self._at.popitem(last=False)


RECENT = web.AppKey("recording_recent_playbacks", RecentPlaybacks)


def _key(access: Access) -> tuple[str, str, str]:
    return (access.recording_id, access.who, access.address)


async def record(app: web.Application, access: Access, *, range_start: int | None, now: datetime) -> bool:
    """Write the access when it starts a playback; whether it did."""
    sessions = app[SESSIONS]
    recent = app.get(RECENT) or RecentPlaybacks(max_keys=1)
    if from_the_start(range_start):
        # From the start (or no range): always a row, one insert and nothing read.
        await write_transaction(sessions, partial(_insert, access, now))
        recent.remember(access, now)
        return True
    if recent.recorded_lately(access, now):
        return False
    # Other nodes' rows: a plain read answers most seeks, without the write lock.
    async with sessions() as session:
        if not starts_playback(range_start, await _last_access(session, access, now), now):
            return False

    async def write_if_new(session: AsyncSession) -> bool:
        if not starts_playback(range_start, await _last_access(session, access, now), now):
            return False
        return await _insert(access, now, session)

    # Read again and write under the write lock: on SQLite two seeks at once make one row, not two (on
    # PostgreSQL both may be written in the same instant: a duplicate, never a missing row).
    written = await write_transaction(sessions, write_if_new)
    if written:
        recent.remember(access, now)
    return written


async def _insert(access: Access, now: datetime, session: AsyncSession) -> bool:
    session.add(RecordingAccess(at=now, **asdict(access)))
    return True


async def _last_access(session: AsyncSession, access: Access, now: datetime) -> datetime | None:
    """When this person at this address was last recorded for this recording, if lately."""
    return await session.scalar(
        select(func.max(RecordingAccess.at)).where(
            RecordingAccess.recording_id == access.recording_id,
            RecordingAccess.who == access.who,
            RecordingAccess.address == access.address,
            RecordingAccess.at > now - SAME_PLAYBACK,
        )
    )


def access_json(row: RecordingAccess) -> dict[str, object]:
    return {
        "id": row.id,
        "at": iso(row.at),
        "recording_id": row.recording_id,
        "call_id": row.call_id,
        "who": row.who,
        "role": row.role,
        "via": row.via,
        "action": row.action,
        "address": row.address,
        "user_agent": row.user_agent,
        "range": row.range,
    }


@routes.get("/api/recordings/access")
@requires(READ_AUDIT)
async def list_access(request: web.Request) -> web.Response:
    """The audit, newest first: ``from``/``to`` (when), ``call`` (a call id), ``recording``, ``who``."""
    stmt = select(RecordingAccess)
    since = query.moment(request, "from")
    until = query.moment(request, "to")
    if since is not None:
        stmt = stmt.where(RecordingAccess.at >= since)
    if until is not None:
        stmt = stmt.where(RecordingAccess.at < until)
    call = query.text(request, "call", 32)
    if call:
        stmt = stmt.where(RecordingAccess.call_id == call)
    recording = query.text(request, "recording", 32)
    if recording:
        stmt = stmt.where(RecordingAccess.recording_id == recording)
    who = query.text(request, "who", 100)
    if who:
        stmt = stmt.where(RecordingAccess.who == who)
    limit, offset = query.page(request)
    async with request.app[SESSIONS]() as session:
        total = await session.scalar(select(func.count()).select_from(stmt.subquery()))
        rows = (
            await session.scalars(
                stmt.order_by(RecordingAccess.at.desc(), RecordingAccess.id.desc())
                .limit(limit)
                .offset(offset)
            )
        ).all()
    items = [access_json(row) for row in rows]
    return json_response({"items": items, "total": total, "limit": limit, "offset": offset})
