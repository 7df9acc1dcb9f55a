"""The first bytes of a file: web pages, JSON and text are not audio; a WAV cut short says so."""

from __future__ import annotations

import struct

import pytest

from recordings.audio_header import not_audio_reason, wav_shortfall_seconds


def wav_header(data_bytes: int, *, byte_rate: int = 16000) -> bytes:
    fmt = struct.pack("<HHIIHH", 1, 1, byte_rate // 2, byte_rate, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", (36 + data_bytes) & 0xFFFFFFFF)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", data_bytes)
    )


@pytest.mark.parametrize(
    ("head", "word"),
    [
        (b"<!DOCTYPE html><html><head><title>Login</title>", "HTML"),
        (b"\n\n  <html lang='ru'><body>Session expired</body></html>", "HTML"),
        (b"\xef\xbb\xbf<?xml version='1.0'?><Error><Code>AccessDenied</Code></Error>", "XML"),
        (b'{"error": "recording not found"}', "JSON"),
        (b"Not Found", "text"),
        ("Запись не найдена".encode(), "text"),
        (b"   \r\n ", "blank"),
    ],
)
def test_text_is_not_audio(head: bytes, word: str) -> None:
    reason = not_audio_reason(head)
    assert reason is not None and word in reason


@pytest.mark.parametrize(
    "head",
    [
        wav_header(16000) + bytes(200),
        b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(100),
        b"\xff\xfb\x90\x64" + bytes(100),
        b"OggS\x00\x02" + bytes(100),
        b"fLaC\x00\x00\x00\x22" + bytes(100),
    ],
)
def test_audio_containers_pass(head: bytes) -> None:
    assert not_audio_reason(head) is None


def test_text_cut_inside_a_character_is_still_text() -> None:
    head = ("а" * 300).encode()[:511]
    assert not_audio_reason(head) == "the file is text, not audio"


def test_a_wav_missing_most_of_its_data_is_truncated() -> None:
    head = wav_header(160000)
    assert wav_shortfall_seconds(head, len(head) + 60000) == pytest.approx((3.75, 10.0))


def test_a_complete_wav_and_a_streamed_wav_pass() -> None:
    head = wav_header(160000)
    assert wav_shortfall_seconds(head, len(head) + 160000) is None
    # Missing less than half a second: the writer's last block, not a cut transfer.
    assert wav_shortfall_seconds(head, len(head) + 156000) is None
    # Written while recording: sizes not filled in yet.
    assert wav_shortfall_seconds(wav_header(0), 10**6) is None
    assert wav_shortfall_seconds(wav_header(0xFFFFFFFF), 10**6) is None


def test_other_containers_are_not_judged_here() -> None:
    assert wav_shortfall_seconds(b"OggS" + bytes(100), 10) is None
    assert wav_shortfall_seconds(b"RIFF", 4) is None
