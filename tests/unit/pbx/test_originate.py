"""Click-to-call's Originate: what Asterisk is asked to do, in each number format the clinic's dialplan
may expect, and what its outcome codes tell the operator."""

from __future__ import annotations

import pytest

from kolokol.phones import PhoneNormalizer
from pbx.originate import dial_string, failure_reason, originate_action

PHONES = PhoneNormalizer()


@pytest.mark.parametrize(
    ("number", "number_format", "dialled"),
    [
        ("+79161234567", "e164", "+79161234567"),
        ("+79161234567", "digits", "79161234567"),
        ("+79161234567", "national", "89161234567"),
        ("+74951110001", "national", "84951110001"),
        # Abroad, "national" would dial a number in the wrong country: it stays international.
        ("+442071234567", "national", "+442071234567"),
    ],
)
def test_the_number_is_dialled_as_the_clinics_dialplan_expects(
    number: str, number_format: str, dialled: str
) -> None:
    assert dial_string(number, number_format, PHONES.national_digits(number)) == dialled  # type: ignore[arg-type]


def test_the_operators_phone_is_rung_first_and_shows_whom_it_will_call() -> None:
    action = originate_action(
        action_id="a1",
        channel="PJSIP/101",
        context="phones",
        dial="+79161234567",
        ring_seconds=30,
        display="+7 916 123-45-67",
        extension="101",
    )
    assert action == {
        "Action": "Originate",
        "ActionID": "a1",
        "Channel": "PJSIP/101",
        "Context": "phones",
        "Exten": "+79161234567",
        "Priority": "1",
        "Timeout": "30000",
        "CallerID": '"+7 916 123-45-67" <101>',
        # Synchronous would hold the AMI session (and its keep-alive) until the phone answers.
        "Async": "true",
    }


def test_a_caller_id_name_cannot_break_out_of_its_quotes() -> None:
    action = originate_action(
        action_id="a1",
        channel="PJSIP/101",
        context="phones",
        dial="+79161234567",
        ring_seconds=30,
        display='Evil" <999>\r\nAction: Command',
        extension="101",
    )
    assert action["CallerID"] == '"Evil <999>Action: Command" <101>'


@pytest.mark.parametrize(
    ("reason", "meaning"),
    [
        ("0", "unreachable"),
        ("1", "rejected"),
        ("3", "no_answer"),
        ("5", "busy"),
        ("8", "congestion"),
        ("42", "failed"),
        (None, "failed"),
        ("", "failed"),
    ],
)
def test_originate_outcomes_in_words(reason: str | None, meaning: str) -> None:
    assert failure_reason(reason) == meaning
