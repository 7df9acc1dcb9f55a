"""kolokol may start listening in the middle of a call (a restart, a reconnect before the snapshot). Every
recorded capture replayed with its first N events cut off, for every N, must never raise and never come
out as nonsense: an inbound call without its caller, an outbound call to the operator's own phone, an
answered call nobody answered, a phone that was not in the call, a fragment read as a call of its own."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest

from kolokol.calls.wiring import make_classifier
from kolokol.phones import PhoneNormalizer
from kolokol.settings import Settings
from pbx.ami_framing import AmiFramer
from pbx.assembler import CallAssembler
from pbx.call_record import PbxCallRecord
from pbx.channels import ChannelClassifier
from tests.support.expected_calls import CALLER, CLINIC, HARNESS_SETTINGS
from tests.support.paths import AMI_CAPTURES

CLASSIFIER = make_classifier(Settings.model_validate(HARNESS_SETTINGS))
CAPTURES = sorted(AMI_CAPTURES.glob("*.ami"))
E164 = PhoneNormalizer().e164


def replay(events: Sequence[Mapping[str, str]]) -> list[PbxCallRecord]:
    assembler = CallAssembler(E164, classifier=CLASSIFIER, live=True)
    now = datetime.now(UTC)
    records = [r for event in events for r in assembler.feed(event, now)]
    records += assembler.flush()
    assembler.take_live()
    return records


def phones_in(events: Sequence[Mapping[str, str]], classifier: ChannelClassifier) -> set[str]:
    extensions = set()
    for event in events:
        for key, name in event.items():
            if key.endswith("Channel"):
                kind, extension = classifier.classify(name)
                if kind == "phone" and extension:
                    extensions.add(extension)
    return extensions


def unknowable(capture: Path, record: PbxCallRecord) -> bool:
    """The one reading the events cannot correct: the PBX called the patient first (an Originate to
    the trunk) and kolokol started listening once that leg was up; nothing left says the PBX placed it,
    so it reads as a call coming in from the clinic's own line. Only the direction is wrong then."""
    return (
        capture.stem.startswith("click_to_dial_patient")
        and record.direction == "inbound"
        and record.caller == CLINIC
        and record.operator in (None, "101")
    )


@pytest.mark.parametrize("capture", CAPTURES, ids=lambda p: p.stem)
def test_attaching_at_any_point_of_a_capture_gives_no_nonsense(capture: Path) -> None:
    events = AmiFramer().feed(capture.read_bytes())
    whole = replay(events)
    directions = {r.direction for r in whole}
    phones = phones_in(events, CLASSIFIER)
    for cut in range(len(events)):
        for record in replay(events[cut:]):
            where = f"{capture.stem} from event {cut}: {record}"
            if unknowable(capture, record):
                continue
            assert record.direction in directions or record.direction == "internal", where
            if record.direction == "inbound":
                assert record.caller == CALLER, where
            if record.direction == "outbound":
                # The patient's number, or unknown ("") when it went by before kolokol listened.
                assert record.called == "" or E164(record.called) == record.called, where
            assert set(record.rang) <= phones, where
            for extension in (record.operator, record.answered_by):
                assert extension is None or extension in phones, where
            if record.status == "answered":
                assert record.answered_at is not None, where
                if record.direction == "inbound":
                    assert record.answered_by is not None and record.operator is not None, where
            else:
                assert record.answered_at is None and record.answered_by is None, where
            assert record.started_at <= record.ended_at, where


def test_a_call_seen_in_the_reconnect_snapshot_is_recorded_without_its_first_channel() -> None:
    """After a reconnect the snapshot lists the call's live channels; its first channel (here the
    originated Local channel) may be gone already. The call is still the call, and is recorded."""
    events = AmiFramer().feed((AMI_CAPTURES / "click_to_dial_local_patient_first.ami").read_bytes())
    talking = next(
        i for i, e in enumerate(events) if e.get("Event") == "BridgeEnter" and "101" in e["Channel"]
    )
    live = {
        e["Uniqueid"]: e
        for e in events[: talking + 1]
        if "Uniqueid" in e and "Local/" not in e.get("Channel", "")
    }
    assembler = CallAssembler(E164, classifier=CLASSIFIER)
    now = datetime.now(UTC)
    assert assembler.resync(list(live.values()), now) == []
    rest = [e for e in events[talking + 1 :] if "Local/" not in e.get("Channel", "")]
    records = [r for e in rest for r in assembler.feed(e, now)] + assembler.flush()
    [record] = records
    assert (record.direction, record.operator) == ("outbound", "101")
