"""The intake's memory of cloud calls in progress (``LiveCalls``): bounded, once per change, no ghosts."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from pbx.live import LiveCall
from pbx.webhooks.base import CloudEvent
from pbx.webhooks.live_calls import Fresh, LiveCalls
from tests.support.live_calls import kinds
from tests.support.providers.mango_office import MANGO, cloud, inbound_answered, leg

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
ENTRY = "MTAxOjExMQ=="


def tracker(max_calls: int = 100) -> LiveCalls:
    return LiveCalls({"mango_office": MANGO}, stale_after=timedelta(hours=4), max_calls=max_calls)


def batch(events: Sequence[CloudEvent], at: datetime = NOW, provider: str = "mango_office") -> Fresh:
    fresh: Fresh = {}
    for event in events:
        fresh.setdefault((provider, event.call_id), []).append((event, at))
    return fresh


def ringing(entry: str) -> list[CloudEvent]:
    return cloud([leg(entry, "B", 1, 8, "Appeared", "abonent", to={"extension": "101"})])


def test_each_change_is_told_once_and_an_ended_call_is_let_go() -> None:
    live = tracker()
    told = [change for event in cloud(inbound_answered()) for change in live.add(batch([event]))]
    assert kinds(told) == ["call.ringing", "call.ringing", "call.answered", "call.updated", "call.ended"]
    assert len(live) == 0
    assert told[-1].at == NOW


def test_a_late_event_of_an_ended_call_does_not_pop_its_card_again() -> None:
    live = tracker()
    events = cloud(inbound_answered())
    summary = [e for e in events if e.kind == "summary"]
    assert live.add(batch(summary)) == [], "the summary overtook the legs: nothing was shown"
    assert live.add(batch([e for e in events if e.kind == "call"])) == []
    assert len(live) == 0


def test_a_batch_of_many_events_is_one_message() -> None:
    live = tracker()
    events = [e for e in cloud(inbound_answered()) if e.kind == "call"][:4]
    [change] = live.add(batch(events))
    assert (change.kind, change.call.talking) == ("call.ringing", ("101",))
    assert live.add(batch(events)) == [], "a re-delivery is no news"


def test_a_call_whose_events_stop_is_closed_after_stale_after() -> None:
    live = tracker()
    [ring] = live.add(batch(ringing("LOST")))
    assert live.expire(NOW + timedelta(hours=3)) == []
    [closed] = live.expire(NOW + timedelta(hours=5))
    assert (closed.kind, closed.call.state, closed.call.ended_at) == ("call.ended", "ended", NOW)
    assert (closed.call.ringing, "101" in closed.call.extensions) == ((), True)
    assert len(live) == 0 and ring.call.id == closed.call.id


def test_the_least_recently_heard_of_call_goes_beyond_the_cap_and_its_card_closes() -> None:
    live = tracker(max_calls=2)
    live.add(batch(ringing("ONE")))
    live.add(batch(ringing("TWO"), NOW + timedelta(seconds=1)))
    changes = live.add(batch(ringing("THREE"), NOW + timedelta(seconds=2)))
    assert [(c.kind, c.call.pbx_call_id) for c in changes] == [
        ("call.ringing", "THREE"),
        ("call.ended", "ONE"),
    ]
    assert len(live) == 2


def test_a_call_nothing_was_shown_for_is_let_go_at_its_final_event() -> None:
    live = tracker()
    ivr = cloud([leg("IVR", "A", 1, 0, "Appeared", "ivr")])
    assert live.add(batch(ivr)) == [] and len(live) == 1
    summary = [e for e in cloud(inbound_answered("IVR")) if e.kind == "summary"]
    live.add(batch(summary))
    assert len(live) == 0


class Broken:
    provider = "broken"

    def live(self, call_id: str, events: Sequence[CloudEvent]) -> LiveCall | None:
        raise ValueError("a bug in one adapter")


def test_an_adapter_that_fails_costs_only_its_own_call(caplog: pytest.LogCaptureFixture) -> None:
    live = LiveCalls(
        {"mango_office": MANGO, "broken": Broken()},  # type: ignore[dict-item]
        stale_after=timedelta(hours=4),
        max_calls=10,
    )
    fresh = batch(ringing("OK")) | batch(ringing("BAD"), provider="broken")
    assert kinds(live.add(fresh)) == ["call.ringing"]
    assert "live call not updated" in caplog.text
