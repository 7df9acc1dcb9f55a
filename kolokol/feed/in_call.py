"""Which patients are on the line right now, by number: what shows a callback task as "in conversation".

An operator's feed carries only the calls of their own phones, so a colleague's screen cannot see that the
patient of a task is already talking to someone. The publisher sees every live change and keeps this book;
when a number's state changes, the number's open tasks are announced again with it (`task.updated`).

Pure: live calls in, the book's answers out. A call that ends after talking stays in the book until the
publisher releases it (a few seconds later): by then the call's record has closed the task ("reached"),
so the task goes straight from "in conversation" to closed instead of flickering back to "call back".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from kolokol.times import iso
from pbx.live import LiveCall

InCallState = Literal["talking", "dialing"]


@dataclass(frozen=True, slots=True)
class InCall:
    call_id: str
    # talking: the patient is connected to a phone of ours; dialing: an outbound call to them rings.
    state: InCallState
    # The phones on it: those talking, or the one placing an outbound call.
    extensions: tuple[str, ...]
    since: datetime

    def json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "state": self.state,
            "extensions": list(self.extensions),
            "since": iso(self.since),
        }


def in_call_of(call: LiveCall) -> InCall | None:
    """The call as the book holds it, or None when it puts nobody on the line with the patient."""
    if not call.number or call.state == "ended":
        return None
    if call.state == "talking":
        phones = call.talking or tuple(x for x in (call.operator or call.answered_by,) if x)
        return InCall(call.id, "talking", tuple(phones), call.answered_at or call.started_at)
    if call.state == "dialing" and call.direction == "outbound":
        phones = (call.operator,) if call.operator else call.ringing
        return InCall(call.id, "dialing", tuple(phones), call.started_at)
    return None


@dataclass(frozen=True, slots=True)
class BookChange:
    """What one live change did to the book."""

    # The number whose state (`InCallBook.of`) changed: its open tasks must be told again.
    changed: str | None = None
    # The call ended after talking and is held: release it (`InCallBook.release`) a little later.
    hold: str | None = None


class InCallBook:
    def __init__(self) -> None:
        # number -> live call id -> its entry
        self._calls: dict[str, dict[str, InCall]] = {}

    def of(self, number: str) -> InCall | None:
        """The number's call in conversation (the earliest, when there are several), or None."""
        calls = self._calls.get(number)
        if not calls:
            return None
        return min(calls.values(), key=lambda entry: (entry.since, entry.call_id))

    def json_of(self, number: str) -> dict[str, Any] | None:
        entry = self.of(number)
        return entry.json() if entry is not None else None

    def update(self, call: LiveCall) -> BookChange:
        number = call.number
        if not number:
            return BookChange()
        calls = self._calls.get(number, {})
        held = calls.get(call.id)
        if call.state == "ended" and held is not None and held.state == "talking":
            # Kept as it was until released; the record closes the task meanwhile.
            return BookChange(hold=number)
        before = self.of(number)
        entry = in_call_of(call)
        if entry is not None:
            self._calls.setdefault(number, {})[call.id] = entry
        else:
            self._forget(number, call.id)
        return BookChange(changed=number if self.of(number) != before else None)

    def release(self, number: str, call_id: str) -> str | None:
        """Forget an ended call that was held; the number when that changed its state."""
        before = self.of(number)
        self._forget(number, call_id)
        return number if self.of(number) != before else None

    def _forget(self, number: str, call_id: str) -> None:
        calls = self._calls.get(number)
        if calls is not None:
            calls.pop(call_id, None)
            if not calls:
                del self._calls[number]
