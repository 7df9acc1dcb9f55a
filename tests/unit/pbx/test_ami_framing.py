from __future__ import annotations

import json
from pathlib import Path

import pytest

from pbx.ami_framing import (
    AmiFramer,
    UnreadableCapture,
    parse_capture,
    parse_json_events,
    read_capture_file,
)

NEWCHANNEL = (
    "Event: Newchannel\r\n"
    "Channel: PJSIP/trunk-00000001\r\n"
    "CallerIDNum: +79161234567\r\n"
    "CallerIDName: Иван Петров\r\n"
    "Uniqueid: 1700000000.1\r\n"
    "\r\n"
).encode()

EXPECTED = {
    "Event": "Newchannel",
    "Channel": "PJSIP/trunk-00000001",
    "CallerIDNum": "+79161234567",
    "CallerIDName": "Иван Петров",
    "Uniqueid": "1700000000.1",
}


@pytest.mark.parametrize("newline", [b"\r\n", b"\n"], ids=["crlf", "lf"])
def test_every_split_point_yields_the_whole_cyrillic_message(newline: bytes) -> None:
    data = NEWCHANNEL.replace(b"\r\n", newline)
    for cut in range(len(data) + 1):
        framer = AmiFramer()
        out = framer.feed(data[:cut]) + framer.feed(data[cut:])
        assert out == [EXPECTED], f"cut at byte {cut}"
        assert framer.messages == 1


def test_byte_by_byte_feed() -> None:
    framer = AmiFramer()
    out: list[dict[str, str]] = []
    for i in range(len(NEWCHANNEL) * 2):
        out += framer.feed((NEWCHANNEL * 2)[i : i + 1])
    assert out == [EXPECTED, EXPECTED]


def test_banner_is_skipped_and_remembered() -> None:
    framer = AmiFramer()
    out = framer.feed(b"Asterisk Call Manager/9.0.0\r\nResponse: Success\r\nActionID: 1\r\n\r\n")
    assert out == [{"Response": "Success", "ActionID": "1"}]
    assert framer.banner == "9.0.0"
    assert framer.malformed_lines == 0


def test_banner_alone_is_not_a_message() -> None:
    framer = AmiFramer()
    assert framer.feed(b"Asterisk Call Manager/9.0.0\r\n\r\n") == []
    assert framer.messages == 0


def test_mixed_line_endings_and_extra_blank_lines() -> None:
    data = b"Event: A\n\r\n\r\n\r\nEvent: B\r\n\nEvent: C\n\n"
    assert parse_capture(data) == [{"Event": "A"}, {"Event": "B"}, {"Event": "C"}]


def test_header_without_space_and_empty_value() -> None:
    out = parse_capture(b"Event: Hangup\r\nCause-txt:\r\nExten:100\r\nURL: http://x:80/a\r\n\r\n")
    assert out == [{"Event": "Hangup", "Cause-txt": "", "Exten": "100", "URL": "http://x:80/a"}]


def test_value_keeps_colon_space_after_first_split() -> None:
    out = parse_capture(b"Event: UserEvent\r\nBody: a: b\r\n\r\n")
    assert out == [{"Event": "UserEvent", "Body": "a: b"}]


def test_garbage_lines_are_counted_not_fatal() -> None:
    framer = AmiFramer()
    out = framer.feed(b"\x00\xff\xfe garbage\r\nEvent: Hangup\r\nno colon here\r\n\r\n")
    assert out == [{"Event": "Hangup"}]
    assert framer.malformed_lines == 2


def test_garbage_only_message_is_dropped() -> None:
    framer = AmiFramer()
    assert framer.feed(b"\x89PNG\x00\x01\r\n\r\nEvent: A\r\n\r\n") == [{"Event": "A"}]
    assert framer.malformed_lines == 1


def test_invalid_utf8_only_affects_its_own_message() -> None:
    out = parse_capture(b"Event: A\r\nName: \xd0\r\n\r\nEvent: B\r\nName: \xd0\x98\r\n\r\n")
    assert out == [{"Event": "A", "Name": "\ufffd"}, {"Event": "B", "Name": "И"}]


def test_chanvariable_headers_become_named_keys() -> None:
    data = (
        b"Event: Newstate\r\nChanVariable: CALLTRACK_SRC=yandex\r\nChanVariable: EMPTY=\r\n"
        b"ChanVariable: EQ=a=b\r\nDestChanVariable: QUEUE=reception\r\n\r\n"
    )
    assert parse_capture(data) == [
        {
            "Event": "Newstate",
            "ChanVariable(CALLTRACK_SRC)": "yandex",
            "ChanVariable(EMPTY)": "",
            "ChanVariable(EQ)": "a=b",
            "DestChanVariable(QUEUE)": "reception",
        }
    ]


def test_repeated_headers_are_joined() -> None:
    data = b"Response: Success\r\nOutput: line one\r\nOutput: line two\r\n\r\n"
    assert parse_capture(data) == [{"Response": "Success", "Output": "line one\nline two"}]


def test_oversized_message_is_dropped_and_framer_resyncs() -> None:
    framer = AmiFramer(max_message_bytes=100)
    out = framer.feed(b"Event: Big\r\nData: " + b"x" * 60)
    out += framer.feed(b"y" * 60)
    out += framer.feed(b"z" * 500 + b"\r\n")
    out += framer.feed(b"\r\nEvent: Small\r\n\r\n")
    assert out == [{"Event": "Small"}]
    assert framer.oversized == 1


def test_oversized_message_in_one_read_is_dropped() -> None:
    framer = AmiFramer(max_message_bytes=100)
    out = framer.feed(b"Event: Big\r\nData: " + b"x" * 200 + b"\r\n\r\nEvent: Small\r\n\r\n")
    assert out == [{"Event": "Small"}]
    assert framer.oversized == 1


def test_flush_returns_unterminated_tail() -> None:
    framer = AmiFramer()
    assert framer.feed(b"Event: A\r\n\r\nEvent: B\r\nX: 1") == [{"Event": "A"}]
    assert framer.flush() == [{"Event": "B", "X": "1"}]
    assert framer.flush() == []


def test_json_events() -> None:
    data = json.dumps([{"Event": "Hangup", "Cause": 16, "Flag": True, "Gone": None}, {"Event": "X"}])
    assert parse_json_events(data.encode()) == [
        {"Event": "Hangup", "Cause": "16", "Flag": "True"},
        {"Event": "X"},
    ]


@pytest.mark.parametrize(
    "payload",
    [b"{}", b"[1, 2]", b'[{"a": {"b": 1}}]', b'[{"a": [1]}]', b"[not json", b'"text"'],
)
def test_json_that_is_not_an_array_of_flat_objects_is_unreadable(payload: bytes) -> None:
    with pytest.raises(UnreadableCapture):
        parse_json_events(payload)


def test_read_capture_file_raw_and_json(tmp_path: Path) -> None:
    raw = tmp_path / "capture.ami"
    raw.write_bytes(b"Asterisk Call Manager/9.0.0\r\n" + NEWCHANNEL + b"Event: Hangup\r\nCause: 16")
    assert read_capture_file(raw) == [EXPECTED, {"Event": "Hangup", "Cause": "16"}]
    js = tmp_path / "capture.json"
    js.write_text('  \n[{"Event": "Hangup", "CallerIDName": "Иван"}]', encoding="utf-8")
    assert read_capture_file(str(js)) == [{"Event": "Hangup", "CallerIDName": "Иван"}]


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (None, "cannot read"),
        (b"", "empty"),
        (b"  \r\n\n ", "empty"),
        (bytes(range(256)) * 4, "no AMI messages"),
        (b"hello: world\r\n\r\n", "no AMI messages"),
        (b"[{]", "JSON"),
    ],
    ids=["missing", "empty", "blank", "binary", "not-ami", "bad-json"],
)
def test_unreadable_files_raise_one_line_message(tmp_path: Path, content: bytes | None, needle: str) -> None:
    path = tmp_path / "capture"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UnreadableCapture) as info:
        read_capture_file(path)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_unreadable_capture_is_a_value_error() -> None:
    assert issubclass(UnreadableCapture, ValueError)
