"""Twilio's signature, TwiML and mapping without the app: pure functions, milliseconds each."""

from __future__ import annotations

from datetime import timedelta
from xml.etree import ElementTree

import pytest

from kolokol.phones import PhoneNormalizer
from pbx.webhooks.base import CloudEvent, Rejected
from pbx.webhooks.twilio import Twilio, twilio_signature, url_variants
from tests.support.providers.twilio import SID, T0, TOKEN, request

# Twilio's published example ("Validating requests"): URL, auth token, POST parameters and the signature.
EXAMPLE_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
EXAMPLE_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}


def adapter(base: str = "https://kolokol.example.clinic", **ring: str) -> Twilio:
    return Twilio(
        SID,
        TOKEN,
        base,
        PhoneNormalizer().e164,
        ring=ring or {"101": "sip:101@clinic.sip.twilio.com"},
        dial_timeout_seconds=25,
        record=True,
    )


def test_signature_matches_twilios_published_example() -> None:
    assert twilio_signature("12345", EXAMPLE_URL, EXAMPLE_PARAMS.items()) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


@pytest.mark.parametrize(
    ("url", "params"),
    [
        (EXAMPLE_URL, {**EXAMPLE_PARAMS, "Digits": "1235"}),
        (EXAMPLE_URL, {**EXAMPLE_PARAMS, "Extra": ""}),
        ("https://mycompany.com/myapp.php?foo=1&bar=3", EXAMPLE_PARAMS),
        ("http://mycompany.com/myapp.php?foo=1&bar=2", EXAMPLE_PARAMS),
    ],
)
def test_any_tampering_changes_the_signature(url: str, params: dict[str, str]) -> None:
    assert twilio_signature("12345", url, params.items()) != "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_parameters_are_sorted_so_their_order_does_not_matter() -> None:
    reordered = list(reversed(EXAMPLE_PARAMS.items()))
    assert twilio_signature("12345", EXAMPLE_URL, reordered) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def test_url_variants_cover_the_default_port_written_or_not() -> None:
    assert url_variants("https://k.example/webhooks/twilio/status?x=1") == [
        "https://k.example/webhooks/twilio/status?x=1",
        "https://k.example:443/webhooks/twilio/status?x=1",
    ]
    assert url_variants("https://k.example:443/a")[1] == "https://k.example/a"
    assert url_variants("https://k.example:8443/a") == ["https://k.example:8443/a"]


def test_a_base_url_with_port_443_accepts_what_twilio_signed_without_it() -> None:
    twilio = adapter("https://kolokol.example.clinic:443/")
    params = {
        "AccountSid": SID,
        "CallSid": "CA1",
        "CallStatus": "ringing",
        "From": "+79161234567",
        "To": "+74951110001",
    }
    signed_without_port = "https://kolokol.example.clinic/webhooks/twilio/voice"
    accepted = twilio.handle(request("/voice", params, base="", sign_url=signed_without_port))
    assert [e.dedupe_key for e in accepted.events] == ["voice:CA1"]
    with pytest.raises(Rejected) as refused:
        twilio.handle(
            request(
                "/voice",
                params,
                base="",
                sign_url="https://kolokol.example.clinic:8443/webhooks/twilio/voice",
            )
        )
    assert refused.value.status == 401


def test_dial_twiml_rings_every_target_with_tagged_callbacks_and_escapes_everything() -> None:
    twilio = adapter(
        "https://kolokol.example.clinic/",
        **{
            "101": "sip:101@clinic.sip.twilio.com;transport=tls&x=<1>",
            "102": "client:anna",
            "1 03": "+79161112233",
        },
    )
    xml = twilio.dial_twiml()
    assert b"&amp;x=&lt;1&gt;" in xml
    root = ElementTree.fromstring(xml)  # noqa: S314 -- our own TwiML, not untrusted input
    [dial] = list(root)
    assert dial.tag == "Dial" and dial.attrib == {
        "action": "https://kolokol.example.clinic/webhooks/twilio/dial-action",
        "timeout": "25",
        "record": "record-from-answer",
        "recordingStatusCallback": "https://kolokol.example.clinic/webhooks/twilio/status",
    }
    assert [(n.tag, n.text) for n in dial] == [
        ("Sip", "sip:101@clinic.sip.twilio.com;transport=tls&x=<1>"),
        ("Client", "anna"),
        ("Number", "+79161112233"),
    ]
    assert [n.attrib["statusCallback"] for n in dial] == [
        "https://kolokol.example.clinic/webhooks/twilio/status?extension=101",
        "https://kolokol.example.clinic/webhooks/twilio/status?extension=102",
        "https://kolokol.example.clinic/webhooks/twilio/status?extension=1+03",
    ]
    assert {n.attrib["statusCallbackEvent"] for n in dial} == {"initiated ringing answered completed"}


def event(kind: str, key: str, at: int, **data: str) -> CloudEvent:
    final = kind == "status" and "ParentCallSid" not in data and data.get("CallStatus") == "completed"
    return CloudEvent("CAparent", key, kind, final, T0 + timedelta(seconds=at), data)


def test_a_dial_action_after_the_final_status_turns_the_record_answered() -> None:
    twilio = adapter()
    base = [
        event("voice", "voice:CAparent", 0, CallSid="CAparent", From="+79161234567", To="+74951110001"),
        event(
            "status",
            "s:1",
            70,
            CallSid="CAparent",
            CallStatus="completed",
            Direction="inbound",
            CallDuration="70",
        ),
    ]
    before = twilio.assemble("CAparent", base, timed_out=False)
    assert before is not None and (before.status, before.missed_where) == ("missed", "ivr")
    dial = event(
        "dial",
        "dial:CAparent:CAchild",
        71,
        CallSid="CAparent",
        DialCallSid="CAchild",
        DialCallStatus="completed",
        DialCallDuration="50",
        CallStatus="in-progress",
    )
    after = twilio.assemble("CAparent", [dial, *base], timed_out=False)
    assert after is not None and after.status == "answered"
    assert after.answered_at == T0 + timedelta(seconds=20) and after.talk_seconds == 50.0
    assert after.answered_by is None, "without a child-leg callback nobody can say which phone took it"


def test_nothing_is_built_before_the_parent_ends_unless_timed_out() -> None:
    twilio = adapter()
    child = event(
        "status",
        "s:c",
        3,
        CallSid="CAc",
        ParentCallSid="CAparent",
        CallStatus="ringing",
        To="sip:101@clinic.sip.twilio.com",
        From="+79161234567",
    )
    assert twilio.assemble("CAparent", [child], timed_out=False) is None
    record = twilio.assemble("CAparent", [child], timed_out=True)
    assert record is not None and record.closed_by_timeout and record.rang == ("101",)


def test_legs_reporting_only_their_end_still_count_as_rung_unless_busy() -> None:
    # Twilio's default statusCallbackEvent is "completed": a clinic's own TwiML may send nothing else.
    twilio = adapter(**{"101": "sip:101@clinic.sip.twilio.com", "102": "client:anna"})
    legs = [
        event(
            "status",
            "s:a",
            30,
            CallSid="CAa",
            ParentCallSid="CAparent",
            CallStatus="no-answer",
            To="sip:101@clinic.sip.twilio.com",
        ),
        event(
            "status", "s:b", 1, CallSid="CAb", ParentCallSid="CAparent", CallStatus="busy", To="client:anna"
        ),
        event(
            "status",
            "s:p",
            31,
            CallSid="CAparent",
            CallStatus="completed",
            Direction="inbound",
            CallDuration="31",
            From="+79161234567",
            To="+74951110001",
        ),
    ]
    record = twilio.assemble("CAparent", legs, timed_out=False)
    assert record is not None
    assert (record.status, record.disposition, record.missed_where) == ("missed", "no_answer", "ringing")
    assert record.rang == ("101",)
