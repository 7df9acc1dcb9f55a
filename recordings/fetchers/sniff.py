"""Is a body audio? Judged from its first bytes, never from what the server claims it is: links that
expired or were mistyped come back as 200 with a login page, an error JSON or a plain message."""

from __future__ import annotations

# Enough bytes for every signature below (RIFF....WAVE needs 12).
HEAD_BYTES = 16


def audio_mime(head: bytes) -> str | None:
    """The audio format the bytes start with, as a MIME type; None for anything else."""
    if head[:4] in (b"RIFF", b"RF64") and head[8:12] == b"WAVE":
        return "audio/wav"
    if head[:3] == b"ID3":
        return "audio/mpeg"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06:
        # An MPEG audio frame sync with a layer set (0xFFF1/0xFFF9 are AAC ADTS: layer bits 00).
        return "audio/mpeg"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "audio/aac"
    if head[:4] == b"OggS":
        return "audio/ogg"
    if head[:4] == b"fLaC":
        return "audio/flac"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "audio/aiff"
    if head[4:8] == b"ftyp":
        return "audio/mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "audio/webm"
    if head[:6] == b"#!AMR\n" or head[:9] == b"#!AMR-WB\n":
        return "audio/amr"
    if head[:4] == b".snd":
        return "audio/basic"
    return None


def not_audio_reason(head: bytes, content_type: str | None, expected: str = "audio") -> str:
    """A sentence a manager can read about a body that is not what was ``expected``."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    kind = (content_type or "").split(";")[0].strip().lower()
    if not head:
        return "the provider sent an empty file instead of the recording"
    if text.startswith((b"<!doctype", b"<html", b"<head", b"<body")) or kind in (
        "text/html",
        "application/xhtml+xml",
    ):
        return f"the provider sent a web page, not {expected}"
    if text.startswith((b"<?xml", b"<")) or kind.endswith("xml"):
        return f"the provider sent an XML document, not {expected}"
    if text.startswith((b"{", b"[")) or kind == "application/json" or kind.endswith("+json"):
        return f"the provider sent a JSON answer, not {expected}"
    if kind.startswith("text/") or _printable(head):
        return f"the provider sent text, not {expected}"
    return f"the provider sent a file that is not {expected} (it starts with {head[:8].hex(' ')})"


def _printable(head: bytes) -> bool:
    try:
        decoded = head.decode("utf-8")
    except UnicodeDecodeError:
        # A multi-byte character cut at the end of the head is still text.
        try:
            decoded = head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return False
    return all(ch.isprintable() or ch in "\r\n\t" for ch in decoded)
