"""Which patients are on the line: the book behind "in conversation" on callback tasks."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from kolokol.feed.in_call import InCall, InCallBook, in_call_of
from tests.support.task_calls import PATIENT, RINGING, T0, TALKING

AT = T0
PATIENT_CALL_ID = RINGING.id


def test_talking_and_dialing_put_the_patient_on_the_line_ringing_does_not() -> None:
    assert in_call_of(RINGING) is None
    assert in_call_of(TALKING) == InCall("asterisk:1.1", "talking", ("102",), AT + timedelta(seconds=5))
    dialing = replace(
        RINGING,
        direction="outbound",
        state="dialing",
        ringing=("101",),
        operator="101",
        caller="101",
        called=PATIENT,
    )
    assert in_call_of(dialing) == InCall("asterisk:1.1", "dialing", ("101",), AT)
    # A cloud PBX that names no phone: still on the line.
    assert in_call_of(replace(TALKING, talking=(), answered_by=None, operator=None)) == InCall(
        "asterisk:1.1", "talking", (), AT + timedelta(seconds=5)
    )
    assert in_call_of(replace(TALKING, number=None)) is None


def test_a_number_changes_when_its_patient_goes_on_the_line_and_is_held_after_talking() -> None:
    book = InCallBook()
    assert book.update(RINGING).changed is None
    assert book.update(TALKING).changed == PATIENT
    assert book.json_of(PATIENT) == {
        "call_id": "asterisk:1.1",
        "state": "talking",
        "extensions": ["102"],
        "since": "2026-11-23T09:00:05.000Z",
    }
    # A transfer moves the call to another phone: the screens are told who has it now.
    assert book.update(replace(TALKING, talking=("103",))).changed == PATIENT
    ended = book.update(replace(TALKING, state="ended", talking=()))
    assert (ended.changed, ended.hold) == (None, PATIENT)
    assert book.of(PATIENT) is not None, "held until released: the record closes the task meanwhile"
    assert book.release(PATIENT, "asterisk:1.1") == PATIENT
    assert book.of(PATIENT) is None


def test_an_outbound_call_that_nobody_answers_leaves_at_once() -> None:
    book = InCallBook()
    dialing = replace(RINGING, direction="outbound", state="dialing", ringing=(), operator="101")
    assert book.update(dialing).changed == PATIENT
    gone = book.update(replace(dialing, state="ended"))
    assert (gone.changed, gone.hold) == (PATIENT, None)


def test_two_calls_with_one_number_show_the_earliest_until_both_leave() -> None:
    book = InCallBook()
    other = replace(TALKING, pbx_call_id="1.2", talking=("104",), answered_at=AT + timedelta(seconds=30))
    book.update(TALKING)
    assert book.update(other).changed is None, "the earliest still shows"
    book.update(replace(TALKING, state="ended"))
    assert book.release(PATIENT, TALKING.id) == PATIENT
    entry = book.of(PATIENT)
    assert entry is not None and entry.extensions == ("104",)
