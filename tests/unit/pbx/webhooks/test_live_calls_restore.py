"""Cloud calls in progress come back after a restart from their stored events (``LiveCalls.restore``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pbx.webhooks.base import CloudEvent
from pbx.webhooks.live_calls import Fresh, LiveCalls
from tests.support.live_calls import kinds
from tests.support.providers.mango_office import CALLER, LINE, MANGO, cloud, leg

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def tracker(max_calls: int = 100) -> LiveCalls:
    return LiveCalls({"mango_office": MANGO}, stale_after=timedelta(hours=4), max_calls=max_calls)


def stored(events: Sequence[CloudEvent], at: datetime = NOW) -> Fresh:
    fresh: Fresh = {}
    for event in events:
        fresh.setdefault(("mango_office", event.call_id), []).append((event, at))
    return fresh


def ringing_call(entry: str) -> list[CloudEvent]:
    """The caller in the IVR on the clinic's line, then 101 and 102 ringing."""
    return cloud(
        [
            leg(entry, "A", 1, 0, "Appeared", "ivr"),
            leg(entry, "B", 1, 8, "Appeared", "abonent", to={"extension": "101"}),
            leg(entry, "C", 1, 8, "Appeared", "abonent", to={"extension": "102"}),
        ]
    )


def answered_by_101(entry: str) -> list[CloudEvent]:
    return cloud([leg(entry, "B", 2, 12, "Connected", "abonent", to={"extension": "101"})])


def test_a_restored_call_shows_as_it_stood_and_its_next_event_updates_it() -> None:
    live = tracker()
    [shown] = live.restore(stored(ringing_call("R1")))
    call = shown.call
    assert (shown.kind, call.state, call.ringing) == ("call.ringing", "ringing", ("101", "102"))
    assert (call.caller, call.number, call.called) == (f"+{CALLER}", f"+{CALLER}", f"+{LINE}")

    [next_one] = live.add(stored(answered_by_101("R1"), NOW + timedelta(seconds=4)))
    assert next_one.kind == "call.answered", "the same call goes on, not a new one"
    assert (next_one.call.caller, next_one.call.called) == (f"+{CALLER}", f"+{LINE}")
    assert (next_one.call.answered_by, next_one.call.talking) == ("101", ("101",))


def test_without_its_stored_events_the_next_event_alone_is_a_new_call_without_the_line() -> None:
    # What a restart did before calls were restored: the card the screens got from one event.
    [alone] = tracker().add(stored(answered_by_101("R1")))
    assert alone.kind == "call.ringing"
    assert alone.call.called != f"+{LINE}"


def test_the_newest_calls_are_restored_when_more_are_open_than_are_held() -> None:
    live = tracker(max_calls=2)
    calls: Fresh = {}
    for n, entry in enumerate(["OLD", "MID", "NEW"]):
        calls.update(stored(ringing_call(entry), NOW + timedelta(minutes=n)))
    told = live.restore(calls)
    assert [c.call.pbx_call_id for c in told] == ["MID", "NEW"]
    assert kinds(told) == ["call.ringing", "call.ringing"], "nothing shown only to be closed at once"
    assert len(live) == 2


def test_a_restored_call_whose_events_stopped_is_closed_after_stale_after() -> None:
    live = tracker()
    live.restore(stored(ringing_call("R1")))
    assert live.expire(NOW + timedelta(hours=4) - timedelta(seconds=1)) == []
    [closed] = live.expire(NOW + timedelta(hours=4, seconds=1))
    assert (closed.kind, closed.call.rang) == ("call.ended", ("101", "102"))


def test_a_late_event_of_a_call_that_ended_before_the_start_pops_no_card() -> None:
    late = stored(answered_by_101("R1"), NOW + timedelta(minutes=1))
    assert kinds(tracker().add(late)) == ["call.ringing"], "forgotten, the late event is a new call"

    live = tracker()
    live.remember_ended([(("mango_office", "R1"), NOW)])
    assert live.add(late) == []
    assert len(live) == 0


def test_ended_calls_are_remembered_within_bounds_and_forgotten_after_stale_after() -> None:
    live = tracker(max_calls=2)
    ended = [(("mango_office", f"E{n}"), NOW + timedelta(minutes=n)) for n in range(10)]
    live.remember_ended(ended)
    assert live.max_ended == 8
    # The two oldest were let go: their late events are new calls again; the newest are not.
    assert kinds(live.add(stored(answered_by_101("E1"), NOW + timedelta(minutes=20)))) == ["call.ringing"]
    assert live.add(stored(answered_by_101("E9"), NOW + timedelta(minutes=20))) == []

    live.expire(NOW + timedelta(hours=4, minutes=10))
    assert kinds(live.add(stored(answered_by_101("E9"), NOW + timedelta(hours=4, minutes=10)))) == [
        "call.ringing"
    ]
