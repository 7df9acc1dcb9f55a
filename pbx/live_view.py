"""What the operators' screens are told about an Asterisk call while it happens (`pbx.live.LiveCall`).

Read from the assembler's state of the call after every event: which phones ring, which talk, whether
and by whom it was answered. The call record waits for the call to end and for a person to be bridged;
the screens may not wait: the other operators' cards should close the moment somebody picks up.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from pbx.assembled_call import AssembledCall, Interpretation, NumberNormalizer
from pbx.call_record import Direction
from pbx.channels import Channel
from pbx.live import LiveCall, LiveState

# DialEnd statuses that are progress reports, not the end of the leg.
DIAL_PROGRESS = frozenset({"RINGING", "PROCEEDING", "PROGRESS"})


def live_view(
    call: AssembledCall, normalize: NumberNormalizer, connected: Callable[[str], bool]
) -> LiveCall | None:
    """The call's snapshot for the screens, or None while there is nothing to show yet.

    `connected(bridge)`: whether the bridge joins two real parties (the assembler follows Local pairs).
    """
    phones = [c for c in call.channels.values() if c.kind == "phone"]
    if not phones and call.live is None:
        return None  # only the caller and the IVR so far: nothing for an operator's screen yet
    reading = Interpretation(call, normalize, call.ended_at or call.last_event_at, False)
    phones.sort(key=lambda c: c.order)
    # A phone shows as ringing once it really rings: one dialled but busy at once (do not disturb),
    # unreachable, or forwarded before ringing never pops a card.
    ringing = tuple(
        c.extension
        for c in phones
        if c.extension
        and c.dialed
        and c.rang_at is not None
        and c.alive
        and c.bridge is None
        and call.dial_results.get(c.uniqueid) in (None, *DIAL_PROGRESS)
    )
    direction, caller, caller_name, called = reading.parties()
    if call.live is None and direction != "outbound" and not ringing:
        # A phone leg exists but rings nobody yet (or an internal call still in the dialplan): the
        # first message waits for a ring. Outbound calls show from the start: the operator dials.
        return None
    answered_at, answered_by = _first_answer(call, direction, reading.origin)
    # A phone that picked up a caller talks from that moment; the operator's own phone answering a
    # click-to-call does not (the patient has not answered yet), but does once the patient has. When the
    # PBX called the patient first, the patient is on the line already when the operator picks up.
    picked_up = direction != "outbound" or reading.origin.kind == "trunk"
    talking = tuple(
        c.extension
        for c in phones
        if c.extension
        and c.alive
        and (
            (c.bridge is not None and connected(c.bridge))
            or (picked_up and call.dial_results.get(c.uniqueid) == "ANSWER")
            or (not picked_up and c is reading.origin and answered_at is not None)
        )
    )
    state: LiveState
    if call.ended_at is not None:
        state, ringing, talking = "ended", (), ()
    elif talking or (answered_at is not None and not ringing):
        # Answered and nobody rings: still the conversation (a transfer between steps, a hang-up
        # whose other half is on its way), not back to ringing.
        state = "talking"
    else:
        state = "dialing" if direction == "outbound" else "ringing"
    operator = call.operator if direction == "inbound" else reading.placed_by(rung=True)
    number = caller if direction == "inbound" else called if direction == "outbound" else None
    return LiveCall(
        pbx="asterisk",
        pbx_call_id=call.call_id,
        direction=direction,
        state=state,
        caller=caller,
        caller_name=caller_name,
        called=called,
        number=number if number and number.startswith("+") else None,
        ringing=ringing,
        talking=talking,
        rang=call.rang,
        queue=call.queue_name,
        operator=operator or (talking[-1] if direction == "inbound" and talking else None),
        answered_by=answered_by,
        started_at=call.started_at,
        answered_at=answered_at,
        ended_at=call.ended_at,
    )


def _first_answer(
    call: AssembledCall, direction: Direction, origin: Channel
) -> tuple[datetime | None, str | None]:
    """When and by whom the call was answered, as the screens see it.

    The call record waits for the bridge (a person connected); the screens need not, because the other
    operators' cards should close the moment somebody picks up. Inbound: the first phone that picked up;
    outbound: the patient's line; internal: the called phone.
    """
    if direction == "inbound" and call.answered_at is not None:
        return call.answered_at, call.answered_by
    patient_first = direction == "outbound" and origin.kind == "trunk"
    for at, leg in call.answers:
        if direction == "outbound" and leg.kind == "trunk" and not patient_first:
            # The patient picked up and the operator is on the line already.
            return at, None
        if patient_first and leg.kind == "phone":
            # The PBX called the patient first (click-to-dial): answered once the operator picks up.
            return at, None
        if direction != "outbound" and leg.kind == "phone" and leg is not origin:
            return at, leg.extension
    if direction != "inbound" and call.connected_at is not None:
        return call.connected_at, None
    return None, None
