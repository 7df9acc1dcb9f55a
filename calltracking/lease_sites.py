"""The sites the lease engine has read, kept for the transactions that follow.

Every session open and heartbeat needs its site (origins, lease times, pools in rotation); read from the
database each time it was the biggest single share of a lease transaction's work on SQLite, and a round
trip of its own per request on PostgreSQL. Sites change rarely (a marketer saving settings), and a
change must still reach every node:
- SQLite: a transaction holds the write lock from its start, and ``PRAGMA data_version`` (read once per
  transaction, under that lock) changes whenever another connection, in this process or another, has
  committed anything since: then every kept site is dropped and read again. A change is seen by the very
  next transaction, as before;
- PostgreSQL: nothing that cheap tells of another node's commit, so a kept site is used for at most
  ``POSTGRES_SECONDS`` after it was read: a change reaches the public endpoints within that time.
Only sites that exist are kept (a site created a moment after a page asked for it is found at once),
and at most ``MAX_SITES`` of them. What a site's numbers are doing (quarantined, retired, leased) is
never kept: every lease statement reads the numbers' own rows.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection

from calltracking.lease_engine import SiteRules, SitesRead

POSTGRES_SECONDS = 1.0
# SQLite sees every change at once; this bounds how long a site is kept anyway.
SQLITE_SECONDS = 60.0
MAX_SITES = 1000


class SiteCache:
    def __init__(self, *, postgres: bool, clock: Callable[[], float] = time.monotonic) -> None:
        self._postgres = postgres
        self._most_seconds = POSTGRES_SECONDS if postgres else SQLITE_SECONDS
        self._clock = clock
        self._kept: dict[str, tuple[float, SiteRules | None]] = {}
        self._data_version: int | None = None

    def sites_for(self, connection: Connection) -> SitesRead:
        """The kept sites still good for a transaction just begun on ``connection`` (on SQLite: with the
        write lock held); its own reads are added to what this returns (see ``keep``)."""
        if not self._postgres:
            version = _data_version(connection)
            if version != self._data_version:
                self._kept = {}
                self._data_version = version
        oldest = self._clock() - self._most_seconds
        return {site_id: site for site_id, (at, site) in list(self._kept.items()) if at > oldest}

    def keep(self, read: SitesRead, given: SitesRead) -> None:
        """Keep the sites a committed transaction read (those in ``read`` that ``given`` lacked)."""
        now = self._clock()
        for site_id, site in read.items():
            if site is None or site_id in given:
                continue
            if len(self._kept) >= MAX_SITES:
                self._kept.pop(next(iter(self._kept)), None)
            self._kept[site_id] = (now, site)


def _data_version(connection: Connection) -> int:
    raw = connection.connection.dbapi_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        cursor.execute("PRAGMA data_version")
        row = cursor.fetchone()
    finally:
        cursor.close()
    assert row is not None
    return int(row[0])
