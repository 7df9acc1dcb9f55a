"""After a restart the webhook intake puts the cloud calls in progress back on the screens from the inbox:
only calls still open and not stale, newest first, at most as many as it holds."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from kolokol.calls.cloud_intake import WebhookIntake
from kolokol.calls.pipeline import CallPipeline
from kolokol.storage.engine import make_sessionmaker
from pbx.live import LiveChange
from pbx.webhooks.base import CloudEvent
from tests.support.providers.mango_office import CALLER, LINE, MANGO, cloud, inbound_missed, leg

STALE_AFTER = timedelta(hours=4)
NOW = datetime.now(UTC)


def ringing(entry: str) -> list[CloudEvent]:
    # Mango's leg ids are unique across calls (its dedupe keys rely on it).
    return cloud(
        [
            leg(entry, f"{entry}-A", 1, 0, "Appeared", "ivr"),
            leg(entry, f"{entry}-B", 1, 8, "Appeared", "abonent", to={"extension": "101"}),
        ]
    )


class Screens:
    def __init__(self) -> None:
        self.changes: list[LiveChange] = []

    def __call__(self, changes: Sequence[LiveChange]) -> None:
        self.changes.extend(changes)

    def calls(self) -> dict[str, LiveChange]:
        return {c.call.pbx_call_id: c for c in self.changes}


def intake(
    engine: AsyncEngine, screens: Screens | None, *, now: datetime, max_live_calls: int = 100
) -> WebhookIntake:
    sessions = make_sessionmaker(engine)
    return WebhookIntake(
        {"mango_office": MANGO},
        sessions,
        CallPipeline(sessions, sla=timedelta(minutes=15)),
        stale_after=STALE_AFTER,
        clock=lambda: now,
        on_live=screens,
        max_live_calls=max_live_calls,
    )


async def store(engine: AsyncEngine, calls: dict[str, tuple[list[CloudEvent], datetime]]) -> None:
    """A first process that stores these events, as they arrived, and stops."""
    first = intake(engine, Screens(), now=NOW)
    first.start()
    await asyncio.gather(
        *(first.submit("mango_office", events, at) for events, at in calls.values()),
    )
    await first.stop()


async def test_open_calls_come_back_with_caller_and_line_and_their_next_event_updates_them(
    engine: AsyncEngine,
) -> None:
    await store(
        engine,
        {
            "OPEN1": (ringing("OPEN1"), NOW - timedelta(minutes=2)),
            "OPEN2": (ringing("OPEN2"), NOW - timedelta(seconds=5)),
            "ENDED": (cloud(inbound_missed("ENDED")), NOW - timedelta(minutes=1)),
            "STALE": (ringing("STALE"), NOW - STALE_AFTER - timedelta(minutes=1)),
        },
    )
    screens = Screens()
    second = intake(engine, screens, now=NOW)
    second.start()
    await second.settle()
    restored = screens.calls()
    assert sorted(restored) == ["OPEN1", "OPEN2"], "ended and stale calls stay off the screens"
    assert [c.call.pbx_call_id for c in screens.changes] == ["OPEN1", "OPEN2"], "oldest first"
    for change in restored.values():
        assert (change.kind, change.call.state, change.call.ringing) == ("call.ringing", "ringing", ("101",))
        assert (change.call.number, change.call.called) == (f"+{CALLER}", f"+{LINE}")

    screens.changes.clear()
    answer = cloud([leg("OPEN2", "OPEN2-B", 2, 12, "Connected", "abonent", to={"extension": "101"})])
    await second.submit("mango_office", answer, NOW)
    [update] = screens.changes
    assert (update.kind, update.call.pbx_call_id) == ("call.answered", "OPEN2")
    assert (update.call.number, update.call.called, update.call.answered_by) == (
        f"+{CALLER}",
        f"+{LINE}",
        "101",
    )
    await second.stop()


async def test_a_start_after_thousands_of_calls_went_stale_restores_only_the_newest_live_ones(
    engine: AsyncEngine,
) -> None:
    long_ago = NOW - STALE_AFTER - timedelta(hours=1)
    calls = {f"STALE{n}": (ringing(f"STALE{n}"), long_ago + timedelta(seconds=n)) for n in range(2000)}
    calls |= {f"LIVE{n}": (ringing(f"LIVE{n}"), NOW - timedelta(seconds=60 - n)) for n in range(8)}
    await store(engine, calls)

    screens = Screens()
    second = intake(engine, screens, now=NOW, max_live_calls=5)
    second.start()
    await second.settle()
    assert sorted(screens.calls()) == [f"LIVE{n}" for n in range(3, 8)]
    await second.stop()


async def test_a_late_event_of_a_call_recorded_just_before_the_restart_pops_no_card(
    engine: AsyncEngine,
) -> None:
    await store(engine, {"ENDED": (cloud(inbound_missed("ENDED")), NOW - timedelta(minutes=1))})
    late_leg = cloud([leg("ENDED", "ENDED-D", 1, 31, "Appeared", "abonent", to={"extension": "103"})])

    screens = Screens()
    second = intake(engine, screens, now=NOW)
    second.start()
    await second.settle()
    await second.submit("mango_office", late_leg, NOW)
    await second.settle()
    assert screens.changes == [], "the call ended before the restart: no card for it"
    await second.stop()
