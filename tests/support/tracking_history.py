"""Call-tracking rows written straight into the database (a site, its pool, static numbers, visitor
sessions and lease history), for tests of what is read back from them: attribution."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from kolokol.storage.tables import (
    Lease,
    PoolNumber,
    TrackingNumber,
    TrackingPool,
    TrackingSite,
    VisitorSession,
)

SITE = "clinic-main"
CLINIC = "+74951110001"
CREATED = datetime(2026, 1, 1, tzinfo=UTC)
HOLD = timedelta(seconds=300)


@dataclass
class History:
    """Adds rows to an open session; the caller commits."""

    db: AsyncSession
    pool_id: int = 0

    async def site(
        self, numbers: list[str], *, fallback: str | None = None, pool: str = "center", branch: str = "Центр"
    ) -> int:
        at = CREATED
        if await self.db.get(TrackingSite, SITE) is None:
            self.db.add(
                TrackingSite(
                    id=SITE,
                    origins=["https://clinic.example"],
                    hold_seconds=int(HOLD.total_seconds()),
                    heartbeat_seconds=30,
                    max_lease_seconds=86400,
                    source_numbers=[],
                    created_at=at,
                    updated_at=at,
                )
            )
            await self.db.flush()
        row = TrackingPool(
            site_id=SITE,
            name=pool,
            branch=branch,
            replaces=[CLINIC],
            fallback=fallback,
            created_at=at,
            updated_at=at,
        )
        self.db.add(row)
        await self.db.flush()
        for number in numbers:
            self.db.add(PoolNumber(number=number, pool_id=row.id, state="active"))
        self.pool_id = row.id
        return row.id

    def static(self, number: str, **source: str) -> None:
        at = CREATED
        self.db.add(TrackingNumber(number=number, created_at=at, updated_at=at, **source))

    def visit(self, session_id: str, at: datetime, channel: str = "paid", **fields: str) -> str:
        self.db.add(
            VisitorSession(
                id=session_id, site_id=SITE, created_at=at, last_seen_at=at, channel=channel, **fields
            )
        )
        return session_id

    def lease(
        self,
        session_id: str,
        number: str,
        start: datetime,
        end: datetime,
        *,
        confirmed: bool = True,
        overflow: bool = False,
        pool_id: int | None = None,
    ) -> None:
        self.db.add(
            Lease(
                pool_id=pool_id or self.pool_id,
                number=number,
                session_id=session_id,
                overflow=overflow,
                started_at=start,
                confirmed_at=start + timedelta(seconds=30) if confirmed else None,
                # As the lease engine keeps them: a lease ends the hold after its page's last heartbeat.
                last_heartbeat_at=max(start, end - HOLD),
                ends_at=end,
            )
        )
