"""Hostile input at the feed's pure core: text UTF-8 cannot carry, frames too big for the window, and
client frames built to crash a parser. Each case was found against a running kolokol (issue 9, part 10)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from softphone_ws.hub import Hub, Ping, ProtocolError, Resume, parse_command, sendable

AT = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
REPLACEMENT = "\ufffd"


def test_a_lone_surrogate_in_a_payload_is_repaired_and_the_rest_of_the_text_kept() -> None:
    hub = Hub(id_base=0)
    card = {"contacts": [{"name": "Анна\ud800 Петрова", "notes": "смайл \ud83d\ude00"}]}
    message = hub.append("call.ringing", AT, ["101"], [], {"card": card})
    encoded = message.frame.encode("utf-8")  # what a websocket text frame needs; raised before the fix
    contact = json.loads(encoded)["card"]["contacts"][0]
    # The lone one becomes U+FFFD; a surrogate pair (a JSON escape of an emoji) becomes the emoji.
    assert contact == {"name": f"Анна{REPLACEMENT} Петрова", "notes": "смайл 😀"}
    assert message.size == len(encoded)


def test_a_lone_surrogate_in_a_key_is_repaired_too() -> None:
    message = Hub(id_base=0).append("call.ringing", AT, [], [], {"card": {"\udfff": 1}})
    assert json.loads(message.frame)["card"] == {REPLACEMENT: 1}


def test_valid_text_is_left_exactly_as_it_is() -> None:
    text = "Иван 😀 \u200b ﷽"
    assert sendable(text) is text


def test_the_resume_window_is_bounded_in_bytes_as_well_as_in_messages() -> None:
    hub = Hub(window=1000, window_bytes=10_000, id_base=0)
    big = {"card": {"notes": "я" * 2_000}}  # ~4 kB of UTF-8 each
    messages = [hub.append("call.ringing", AT, ["101"], [], big) for _ in range(10)]
    assert hub.window_bytes <= 10_000
    kept = hub.since(messages[-3].id)
    assert kept == messages[-2:], "the newest messages stay resumable"
    assert hub.since(messages[0].id) is None, "older ones left the window: the client reloads"
    # Small messages after the burst fill it again by count, as before.
    small = [hub.append("call.ended", AT, ["101"], [], {}) for _ in range(20)]
    assert hub.since(messages[-1].id) == small


def test_one_message_bigger_than_the_whole_window_is_still_kept_alone() -> None:
    hub = Hub(window_bytes=100, id_base=0)
    hub.append("call.ringing", AT, ["101"], [], {})
    huge = hub.append("call.ringing", AT, ["101"], [], {"card": {"notes": "x" * 1000}})
    assert hub.since("1") == [huge]
    assert hub.window_bytes == huge.size


@pytest.mark.parametrize(
    "frame",
    [
        "[" * 4000 + "]" * 4000,  # nested thousands deep: RecursionError inside json, once a 1011
        '{"a":' * 1500 + "1" + "}" * 1500,
        '{"type":"subscribe","extensions":' + "[" * 2000 + "]" * 2000 + "}",
        "[" + "9" * 5000 + "]",  # past Python's digit limit for int()
        '{"type":"resume","after":1e999}',
        '{"type":"resume","after":' + "9" * 4000 + "}",
        '{"type":"subscribe","extensions":["\\ud800"]}',  # an escaped lone surrogate as a phone name
        '{"type":"subscribe","queues":["\\u0000"]}',
    ],
)
def test_hostile_frames_are_protocol_errors_never_crashes(frame: str) -> None:
    with pytest.raises(ProtocolError):
        parse_command(frame)


def test_a_resume_from_an_id_that_is_no_id_gets_a_reload() -> None:
    command = parse_command('{"type":"resume","after":"\\ud800"}')
    assert isinstance(command, Resume) and command.after == "\ud800"
    assert Hub(id_base=0).since(command.after) is None


def test_extra_fields_with_huge_numbers_are_just_ignored() -> None:
    assert parse_command('{"type":"ping","x":' + "9" * 4000 + ',"y":1e999,"z":-1e999}') == Ping()
