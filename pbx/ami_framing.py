"""Byte-level framing of the Asterisk Manager Interface (AMI) protocol.

Pure code, no asyncio: the live adapter (``pbx.ami``) and the capture-file
readers share it, so a recorded session parses exactly like a live one.

Bytes are buffered until a whole message (terminated by a blank line) is
available and only then decoded.  Decoding per TCP read would cut multibyte
UTF-8 characters (Cyrillic caller names) that straddle two reads.

Nothing that no database or websocket can carry comes out: bytes that are not
UTF-8 become U+FFFD, and so do NUL characters (PostgreSQL refuses them) and, in
JSON captures, lone surrogates.
"""

from __future__ import annotations

import json
import os
import re

from pbx.untrusted import repaired

AmiMessage = dict[str, str]

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024

# A blank line ends a message.  Asterisk sends CRLF, but hand-made captures
# and some proxies use bare LF, and mixed endings have been seen in the wild.
_TERMINATOR = re.compile(rb"\r?\n\r?\n")
# Longest terminator minus one: how far back a search must restart so a
# terminator split across two feeds is still found.
_TERMINATOR_OVERLAP = 3
_BANNER_PREFIX = "Asterisk Call Manager/"
# Headers Asterisk repeats with NAME=value payloads; giving each variable its
# own key keeps AmiMessage a flat str->str mapping while staying addressable.
_VARIABLE_HEADERS = frozenset({"ChanVariable", "DestChanVariable"})


class UnreadableCapture(ValueError):
    """A capture file that cannot be turned into AMI messages."""


class AmiFramer:
    """Incremental AMI message splitter fed with raw bytes."""

    def __init__(self, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> None:
        self.max_message_bytes = max_message_bytes
        self.messages = 0
        self.malformed_lines = 0
        self.oversized = 0
        self.banner: str | None = None
        self._buffer = bytearray()
        self._scan_from = 0
        # True while skipping the tail of an oversized message: everything up
        # to the next blank line belongs to it and must not be parsed.
        self._discarding = False

    def feed(self, data: bytes) -> list[AmiMessage]:
        self._buffer += data
        out: list[AmiMessage] = []
        while True:
            match = _TERMINATOR.search(self._buffer, self._scan_from)
            if match is None:
                self._handle_unterminated()
                return out
            raw = bytes(self._buffer[: match.start()])
            del self._buffer[: match.end()]
            self._scan_from = 0
            if self._discarding:
                self._discarding = False
                continue
            if len(raw) > self.max_message_bytes:
                self.oversized += 1
                continue
            message = self._parse(raw)
            if message is not None:
                out.append(message)

    def flush(self) -> list[AmiMessage]:
        """Return a trailing message that had no terminator (end of a file)."""
        raw = bytes(self._buffer)
        self._buffer.clear()
        self._scan_from = 0
        if self._discarding:
            self._discarding = False
            return []
        if len(raw) > self.max_message_bytes:
            self.oversized += 1
            return []
        message = self._parse(raw)
        return [] if message is None else [message]

    def _handle_unterminated(self) -> None:
        if len(self._buffer) > self.max_message_bytes:
            if not self._discarding:
                self.oversized += 1
                self._discarding = True
            # Keep a short tail so a terminator split across feeds is found.
            del self._buffer[:-_TERMINATOR_OVERLAP]
        self._scan_from = max(0, len(self._buffer) - _TERMINATOR_OVERLAP)

    def _parse(self, raw: bytes) -> AmiMessage | None:
        text = raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")
        message: AmiMessage = {}
        for line in text.split("\n"):
            line = line.rstrip("\r")
            if not line.strip():
                continue
            if line.startswith(_BANNER_PREFIX):
                self.banner = line[len(_BANNER_PREFIX) :].strip()
                continue
            key, sep, value = line.partition(":")
            key = key.strip()
            if not sep or not key:
                self.malformed_lines += 1
                continue
            if value.startswith(" "):
                value = value[1:]
            if key in _VARIABLE_HEADERS:
                name, _, var_value = value.partition("=")
                message[f"{key}({name})"] = var_value
            elif key in message:
                message[key] = f"{message[key]}\n{value}"
            else:
                message[key] = value
        if not message:
            return None
        self.messages += 1
        return message


def parse_capture(data: bytes) -> list[AmiMessage]:
    framer = AmiFramer()
    return framer.feed(data) + framer.flush()


def parse_json_events(data: bytes) -> list[AmiMessage]:
    try:
        decoded = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise UnreadableCapture(f"not valid JSON: {exc}") from exc
    except RecursionError:
        raise UnreadableCapture("not valid JSON: nested too deeply") from None
    if not isinstance(decoded, list):
        raise UnreadableCapture("JSON capture must be an array of event objects")
    out: list[AmiMessage] = []
    for index, item in enumerate(decoded):
        if not isinstance(item, dict):
            raise UnreadableCapture(f"JSON capture item {index} is not an object")
        message: AmiMessage = {}
        for key, value in item.items():
            if isinstance(value, (dict, list)):
                raise UnreadableCapture(f"JSON capture item {index} field {key!r} is not a scalar")
            # JSON null has no AMI spelling; an absent header is the closest.
            if value is None:
                continue
            message[repaired(str(key))] = repaired(value if isinstance(value, str) else str(value))
        out.append(message)
    return out


def read_capture_file(path: str | os.PathLike[str]) -> list[AmiMessage]:
    """Read a raw AMI capture or a JSON array of events, detected by content."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise UnreadableCapture(f"cannot read {os.fspath(path)}: {exc.strerror or exc}") from exc
    stripped = data.lstrip()
    if not stripped:
        raise UnreadableCapture(f"{os.fspath(path)} is empty")
    if stripped.startswith(b"["):
        return parse_json_events(data)
    messages = parse_capture(data)
    # Random bytes can contain a stray colon; a capture is only believable if
    # at least one message looks like AMI traffic.
    if not any(k in m for m in messages for k in ("Event", "Response", "Action")):
        raise UnreadableCapture(f"{os.fspath(path)} contains no AMI messages")
    return messages
