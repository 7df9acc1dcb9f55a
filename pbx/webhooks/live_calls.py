"""Cloud calls in progress, for the operators' screens: each call's webhook events so far, in memory.

The intake hands over every committed batch; each touched call is read again by its adapter's pure
``live()`` and the screens are told what changed. No database read: this runs on the writer's path.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pbx.live import LiveCall, LiveChange, change_kind
from pbx.webhooks.base import CloudEvent, WebhookAdapter, unique

log = logging.getLogger("kolokol.webhooks")
# Events of one stored batch, by (provider, call id), each with the time its request arrived.
Fresh = dict[tuple[str, str], list[tuple[CloudEvent, datetime]]]


@dataclass(slots=True)
class _Tracked:
    events: dict[str, CloudEvent]
    # When its latest event arrived.
    last_at: datetime
    # What the screens were last told, None while nothing.
    shown: LiveCall | None = None


class LiveCalls:
    """Cloud calls in progress, held in memory so that the operators' screens follow them.

    Each call's events so far and the snapshot the screens were last told: a new event costs one call
    of the adapter's pure ``live`` and no database read. After a start the calls in progress come back
    from their stored events (``restore``); a call first heard of mid-way starts from whatever arrives.
    Bounded: a call goes when it ends, when its events stop for ``stale_after``, and the least recently
    heard of go when more than ``max_calls`` are held; a card still open is closed (``call.ended``) then.
    An ended call's key is kept a while longer, so a late or overtaken event of it does not pop its card
    again.
    """

    def __init__(
        self, adapters: Mapping[str, WebhookAdapter], *, stale_after: timedelta, max_calls: int
    ) -> None:
        self._adapters = adapters
        self._stale_after = stale_after
        self._max_calls = max_calls
        self._calls: OrderedDict[tuple[str, str], _Tracked] = OrderedDict()
        self._ended: OrderedDict[tuple[str, str], datetime] = OrderedDict()

    def __len__(self) -> int:
        return len(self._calls)

    def add(self, fresh: Fresh) -> list[LiveChange]:
        """The changes the newly stored events make to their calls, at most one per call."""
        changes: list[LiveChange] = []
        for key, pairs in fresh.items():
            if key in self._ended or key[0] not in self._adapters:
                continue
            at = max(received for _, received in pairs)
            call = self._calls.pop(key, None) or _Tracked({}, at)
            self._calls[key] = call  # the most recently heard of last
            for event, _ in pairs:
                call.events.setdefault(event.dedupe_key, event)
            call.last_at = max(call.last_at, at)
            changes.extend(self._update(key, call, at))
        while len(self._calls) > self._max_calls:
            key, call = next(iter(self._calls.items()))
            changes.extend(self._drop(key, call.last_at, call.last_at))
        return changes

    def restore(self, stored: Fresh) -> list[LiveChange]:
        """After a start: the calls that were in progress, from the events stored before it.

        Each is shown as its events so far make it (its first message is the snapshot as it stands), and
        its next event is then an update of that call, as if kolokol had never stopped. Beyond
        ``max_calls``, the least recently heard of are left out.
        """
        latest = {key: max(received for _, received in pairs) for key, pairs in stored.items() if pairs}
        newest = sorted(latest, key=latest.__getitem__)[-self._max_calls :]
        return self.add({key: stored[key] for key in newest})

    def remember_ended(self, ended: Sequence[tuple[tuple[str, str], datetime]]) -> None:
        """After a start: calls that ended before it (oldest first, each with when), so that a late or
        re-delivered event of one of them does not pop its card again."""
        for key, at in ended:
            if key not in self._calls:
                self._remember(key, at)

    def expire(self, now: datetime) -> list[LiveChange]:
        """Let go of calls whose events stopped ``stale_after`` ago (a lost final event)."""
        cutoff = now - self._stale_after
        changes: list[LiveChange] = []
        while self._calls:
            key, call = next(iter(self._calls.items()))
            if call.last_at >= cutoff:
                break
            changes.extend(self._drop(key, call.last_at, now))
        while self._ended and next(iter(self._ended.values())) < cutoff:
            self._ended.popitem(last=False)
        return changes

    def _remember(self, key: tuple[str, str], at: datetime) -> None:
        self._ended[key] = at
        self._ended.move_to_end(key)
        while len(self._ended) > self.max_ended:
            self._ended.popitem(last=False)

    @property
    def max_ended(self) -> int:
        """How many ended calls are remembered at most."""
        return 4 * self._max_calls

    def _update(self, key: tuple[str, str], call: _Tracked, at: datetime) -> list[LiveChange]:
        events = list(call.events.values())
        try:
            snapshot = self._adapters[key[0]].live(key[1], events)
        except Exception:
            # A snapshot the adapter cannot make must not cost the stored events or the other calls.
            log.exception("live call not updated", extra={"pbx": key[0], "pbx_call_id": key[1]})
            return []
        changes: list[LiveChange] = []
        if snapshot is not None:
            kind = change_kind(call.shown, snapshot)
            if kind is not None:
                changes.append(LiveChange(kind, snapshot, at))
            call.shown = snapshot
        over = snapshot.state == "ended" if snapshot else any(e.final for e in events)
        if over:
            changes.extend(self._drop(key, at, at))
        return changes

    def _drop(self, key: tuple[str, str], ended_at: datetime, at: datetime) -> list[LiveChange]:
        call = self._calls.pop(key)
        self._remember(key, at)
        shown = call.shown
        if shown is None or shown.state == "ended":
            return []
        # The call is let go with a card still open: close it on every phone that showed it.
        closed = dataclasses.replace(
            shown,
            state="ended",
            ringing=(),
            talking=(),
            rang=tuple(unique([*shown.rang, *shown.ringing, *shown.talking])),
            ended_at=ended_at,
        )
        return [LiveChange("call.ended", closed, at)]
