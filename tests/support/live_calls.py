"""Replaying a cloud PBX's events into live snapshots, as the intake does, without the app."""

from __future__ import annotations

from collections.abc import Sequence

from pbx.live import LiveCall, LiveChange, change_kind
from pbx.webhooks.base import CloudEvent, WebhookAdapter
from tests.support.webhooks import shuffled


def replay(adapter: WebhookAdapter, call_id: str, events: Sequence[CloudEvent]) -> list[LiveChange]:
    """What the screens are told as the events arrive one at a time, in this order."""
    changes: list[LiveChange] = []
    shown: LiveCall | None = None
    for n in range(1, len(events) + 1):
        snapshot = adapter.live(call_id, events[:n])
        if snapshot is None:
            continue
        kind = change_kind(shown, snapshot)
        if kind is not None:
            changes.append(LiveChange(kind, snapshot, events[n - 1].occurred_at))
        shown = snapshot
    return changes


def kinds(changes: Sequence[LiveChange]) -> list[str]:
    return [c.kind for c in changes]


def the(changes: Sequence[LiveChange], kind: str) -> LiveCall:
    """The snapshot of the one message of this kind."""
    [call] = [c.call for c in changes if c.kind == kind]
    return call


def assert_order_free(adapter: WebhookAdapter, call_id: str, events: Sequence[CloudEvent]) -> LiveCall:
    """The final snapshot is the same whatever order the events came in, and with re-deliveries."""
    final = adapter.live(call_id, events)
    assert final is not None
    for seed in range(8):
        again = shuffled([*events, *events[seed % 3 :: 3]], seed)
        assert adapter.live(call_id, again) == final, f"seed {seed}"
    return final


def assert_dialing(change: LiveChange, operator: str, number: str) -> None:
    """An outbound call's first message: the patient's number, on the console of the operator who dials."""
    call = change.call
    assert (change.kind, call.direction, call.state) == ("call.ringing", "outbound", "dialing")
    assert (call.number, call.extensions) == (number, frozenset({operator}))
