"""What the first bytes of a file say before ffmpeg is asked: not audio at all, or a WAV cut short.

Pure: bytes in, a reason (a sentence for the manager) or None out.
"""

from __future__ import annotations

import struct

HEAD_BYTES = 4096
# WAV writers that stream (Asterisk while recording, some PBXs) leave these in the size fields.
_UNKNOWN_SIZES = {0, 0xFFFFFFFF, 0x7FFFFFFF, 0x7FFFF000}
# A WAV missing less than this share of its declared data is only missing its last partial block.
_WAV_SLACK_SECONDS = 0.5


def not_audio_reason(head: bytes) -> str | None:
    """A reason when the file is clearly a web page, JSON or text rather than audio.

    Every audio container starts with binary bytes (RIFF sizes, ``ID3`` flags, MPEG frame sync, ``OggS``
    version 0, ``fLaC`` block headers), so printable text at the start is never audio.
    """
    body = head.removeprefix(b"\xef\xbb\xbf").lstrip(b" \t\r\n")
    if not body:
        return "the file holds only blank space, not audio" if head else None
    lowered = body[:512].lower()
    if lowered.startswith((b"<!doctype html", b"<html")) or b"<html" in lowered or b"<body" in lowered:
        return "the file is a web page (HTML), not audio"
    if lowered.startswith(b"<?xml") or lowered.startswith(b"<"):
        return "the file is XML or markup, not audio"
    if lowered.startswith((b"{", b"[")) and _is_text(body[:512]):
        return "the file is JSON text, not audio"
    if _is_text(body[:512]):
        return "the file is text, not audio"
    return None


def wav_shortfall_seconds(head: bytes, file_size: int) -> tuple[float, float] | None:
    """(seconds present, seconds declared) when a WAV header announces more audio than the file holds.

    ffmpeg itself trusts the file size, so a WAV cut short in transfer would otherwise pass as a shorter
    recording.
    """
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    offset = 12
    byte_rate = 0
    while offset + 8 <= len(head):
        chunk_id = head[offset : offset + 4]
        (size,) = struct.unpack_from("<I", head, offset + 4)
        body = offset + 8
        if chunk_id == b"fmt " and body + 12 <= len(head):
            (byte_rate,) = struct.unpack_from("<I", head, body + 8)
        elif chunk_id == b"data":
            if size in _UNKNOWN_SIZES or byte_rate <= 0:
                return None
            present = max(0, file_size - body)
            if size - present > _WAV_SLACK_SECONDS * byte_rate:
                return present / byte_rate, size / byte_rate
            return None
        if size in _UNKNOWN_SIZES:
            return None
        offset = body + size + (size & 1)
    return None


def _is_text(sample: bytes) -> bool:
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        if exc.start < len(sample) - 3:
            return False
        text = sample[: exc.start].decode("utf-8")
    return all(ch.isprintable() or ch in "\t\r\n" for ch in text)
