"""Keeps the report's daily roll-up current in the background, so no marketer waits for it.

A report rolls up the days it needs that are not rolled up yet (``report_days``); on a year of a busy
clinic's calls the first one would take most of a minute. Here the finished days of the last
``KEEP_DAYS`` are rolled up a while after start and then every ``EVERY``: a report finds them ready,
and the triggers' forgotten days (a late webhook, a callback closing a miss) are counted again soon.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta
from zoneinfo import ZoneInfo

from aiohttp import web

from calltracking.local_dates import DayRange, local_day
from calltracking.report_days import Settings, ensure_rolled_up
from kolokol.app_keys import CLOCK, SESSIONS, SETTINGS

log = logging.getLogger("kolokol.calltracking")

KEEP_DAYS = 400
# Not at start: start-up belongs to the calls in progress, and a test's short-lived app never rolls up.
FIRST_AFTER = timedelta(minutes=2)
EVERY = timedelta(hours=1)


async def keep_rolled_up(app: web.Application) -> None:
    tracking = app[SETTINGS].tracking
    zone = ZoneInfo(tracking.timezone)
    settings = Settings(zone, tracking.target_call_seconds)
    now = app[CLOCK]()
    today = local_day(now, zone)
    days = DayRange(today - timedelta(days=KEEP_DAYS), today, zone)
    await ensure_rolled_up(app[SESSIONS], settings, days, now)


async def _loop(app: web.Application) -> None:
    await asyncio.sleep(FIRST_AFTER.total_seconds())
    while True:
        try:
            await keep_rolled_up(app)
        except Exception:
            # The next round tries again; a report meanwhile rolls up what it needs itself.
            log.exception("report roll-up failed")
        await asyncio.sleep(EVERY.total_seconds())


async def report_keeper(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_loop(app), name="kolokol-report-keeper")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
