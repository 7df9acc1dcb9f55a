"""Click-to-call over AMI, the pure part: the Originate action and what its outcome codes mean.

Asterisk rings the operator's phone first; once it is picked up, the phone's channel runs the dialplan
(`context`, the patient's number as the extension) exactly as if the operator had dialled it, so the
clinic's outbound rules (trunk, caller ID, recording) apply and kolokol tracks the call like any other.
"""

from __future__ import annotations

from typing import Literal

NumberFormat = Literal["e164", "digits", "national"]

# OriginateResponse "Reason" is the last control frame seen on the operator's leg (AST_CONTROL_*).
_REASONS = {
    "0": "unreachable",  # the phone is not registered, or the channel could not be created
    "1": "rejected",  # the phone hung up / declined
    "3": "no_answer",  # it rang, nobody picked up
    "5": "busy",
    "8": "congestion",
}


def dial_string(e164: str, number_format: NumberFormat, national_digits: str | None) -> str:
    """The patient's number as the clinic's dialplan expects it.

    ``national_digits`` is the number written nationally with its trunk prefix (89161234567 in Russia),
    given only when the number is in the clinic's own country; numbers abroad stay international.
    """
    if number_format == "digits":
        return e164.lstrip("+")
    if number_format == "national" and national_digits:
        return national_digits
    return e164


def originate_action(
    *,
    action_id: str,
    channel: str,
    context: str,
    dial: str,
    ring_seconds: int,
    display: str,
    extension: str,
) -> dict[str, str]:
    """The AMI Originate for ringing `channel` and then running `dial`@`context` on it.

    Async, because a synchronous Originate holds the AMI session (and its keep-alive pings) until the
    phone answers. Caller ID: the number being called as the name, so the operator's phone shows whom
    it is about to call, and the operator's own extension as the number, so outbound routing treats
    the call as dialled from that phone.
    """
    return {
        "Action": "Originate",
        "ActionID": action_id,
        "Channel": channel,
        "Context": context,
        "Exten": dial,
        "Priority": "1",
        "Timeout": str(ring_seconds * 1000),
        "CallerID": f'"{_quoted(display)}" <{extension}>',
        "Async": "true",
    }


def failure_reason(reason: str | None) -> str:
    return _REASONS.get((reason or "").strip(), "failed")


def _quoted(text: str) -> str:
    # A caller ID name is a quoted string on the wire: no quotes, no line breaks inside.
    return "".join(ch for ch in text if ch not in '"\r\n\\')[:60]
