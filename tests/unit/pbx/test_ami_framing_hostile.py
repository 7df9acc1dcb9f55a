"""Whatever bytes an AMI connection or a capture file holds, the messages that come out hold only text a
database and the feed can carry (no lone surrogates, no NUL), and the rest of the message survives."""

from __future__ import annotations

import json
import random

import pytest

from pbx.ami_framing import AmiFramer, UnreadableCapture, parse_capture, parse_json_events
from pbx.untrusted import text_problem


def all_text_valid(messages: list[dict[str, str]]) -> bool:
    return all(text_problem(k) is None and text_problem(v) is None for m in messages for k, v in m.items())


def test_undecodable_bytes_and_nul_become_replacement_characters() -> None:
    raw = (
        b"Event: Newchannel\r\nCallerIDName: \xd0\x9f\xd1\x91\xd1\x82\xd1\x80 \xff\xfe\r\n"
        b"Exten: 10\x001\r\nConnectedLineName: \xed\xa0\x80\r\nUniqueid: 1.1\r\n\r\n"
    )
    [message] = parse_capture(raw)
    assert message["CallerIDName"] == "Пётр \ufffd\ufffd"
    assert message["Exten"] == "10\ufffd1"
    assert "\ufffd" in message["ConnectedLineName"], "an encoded surrogate is not UTF-8"
    assert message["Uniqueid"] == "1.1", "the rest of the message is intact"
    assert all_text_valid([message])


def test_random_bytes_in_random_pieces_never_yield_invalid_text() -> None:
    rng = random.Random(20261203)  # noqa: S311 - a reproducible fuzz, not a secret
    alphabet = b"Event: Hangup\r\nCallerIDName: \x00\xff\xed\xa0\x80\xd0\x9f:\r\n"
    for _ in range(200):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 400)))
        framer = AmiFramer(max_message_bytes=256)
        messages: list[dict[str, str]] = []
        position = 0
        while position < len(data):
            step = rng.randrange(1, 40)
            messages += framer.feed(data[position : position + step])
            position += step
        messages += framer.flush()
        assert all_text_valid(messages), data


def test_a_json_capture_with_lone_surrogates_is_repaired() -> None:
    data = json.dumps([{"Event": "Newchannel", "CallerIDName": "\ud800Анна", "Uniqueid": "1.1", "X": 5}])
    [message] = parse_json_events(data.encode())
    assert message == {"Event": "Newchannel", "CallerIDName": "\ufffdАнна", "Uniqueid": "1.1", "X": "5"}


@pytest.mark.parametrize(
    "data",
    [
        b"[" * 5000 + b"]" * 5000,
        b'[{"Event": "Hangup", "Cause": ' + b"9" * 5000 + b"}]",
        b'[{"Event": "\xff"}]',
    ],
)
def test_a_json_capture_that_cannot_be_read_is_refused_clearly(data: bytes) -> None:
    with pytest.raises(UnreadableCapture):
        parse_json_events(data)
