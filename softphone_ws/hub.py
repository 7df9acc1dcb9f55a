"""The feed's pure core: the bounded message log, subscriptions, client commands and who may see what.

No asyncio and no websockets here: the server adapter asks this module what to send to whom.
"""

from __future__ import annotations

import json
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any, Literal, get_args

from softphone_ws.feed_tokens import FeedGrant

MessageType = Literal[
    "call.ringing",
    "call.answered",
    "call.updated",
    "call.ended",
    "task.created",
    "task.updated",
    "originate.failed",
]
MESSAGE_TYPES: frozenset[str] = frozenset(get_args(MessageType))

# Frame keys the hub owns; a payload may not override them.
RESERVED_KEYS = frozenset({"id", "type", "at"})

MAX_SUBSCRIBED_NAMES = 50  # per list: extensions, queues
MAX_NAME_CHARS = 32
MAX_ID_CHARS = 32
# The resume window holds at most this many messages and this many bytes of frames, whichever is
# reached first: a run of unusually big cards must not make it hold hundreds of megabytes.
WINDOW_MESSAGES = 1000
WINDOW_BYTES = 8 * 1024 * 1024


class ProtocolError(Exception):
    """A client frame that is not a valid command."""


class Forbidden(Exception):
    """A subscription outside what the client's grant allows."""


@dataclass(frozen=True)
class FeedMessage:
    id: str
    type: MessageType
    at: datetime
    extensions: frozenset[str]
    queues: frozenset[str]
    payload: Mapping[str, Any]
    # The JSON text sent to clients, encoded once when the message is made (also for resumes); always
    # valid UTF-8 text (see `sendable`).
    frame: str
    # For every subscriber whatever they subscribed to (the shared callback list).
    everyone: bool = False
    # The frame's length in UTF-8 bytes: what it costs the resume window.
    size: int = 0


@dataclass(frozen=True)
class Subscription:
    extensions: frozenset[str] = frozenset()
    queues: frozenset[str] = frozenset()
    everything: bool = False

    def matches(self, message: FeedMessage) -> bool:
        return message.everyone or self.covers(message.extensions, message.queues)

    def covers(self, extensions: frozenset[str], queues: frozenset[str]) -> bool:
        """Would a message about these phones and queues reach this subscriber?"""
        return (
            self.everything
            or not self.extensions.isdisjoint(extensions)
            or not self.queues.isdisjoint(queues)
        )


@dataclass(frozen=True)
class Subscribe:
    subscription: Subscription


@dataclass(frozen=True)
class Resume:
    after: str


@dataclass(frozen=True)
class Ping:
    pass


Command = Subscribe | Resume | Ping


def sendable(text: str) -> str:
    """`text` as valid Unicode, repaired if need be: what a websocket text frame can carry.

    A Python string can hold lone surrogates ("\\ud800", from stored text or a JSON escape nobody checked);
    UTF-8 cannot, so such a frame would fail for every client it is sent to and in every resume across
    it. A surrogate pair becomes the character it stands for and a lone surrogate U+FFFD, so the
    message still goes out with the rest of its text intact.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return text


def format_time(at: datetime) -> str:
    """ISO 8601 UTC with milliseconds and Z, like the call record."""
    at = at.astimezone(UTC)
    return f"{at:%Y-%m-%dT%H:%M:%S}.{at.microsecond // 1000:03d}Z"


class Hub:
    """Assigns ids and keeps the last messages (at most `window` of them and `window_bytes` of frames)
    so a reconnecting client can catch up.

    Ids are consecutive integers (as strings) starting after `id_base`. The default base is the current
    time in microseconds, so a restarted process issues ids above any the previous process issued: a
    client resuming with an id from before the restart gets "resync" instead of a wrong catch-up.
    """

    def __init__(
        self,
        window: int = WINDOW_MESSAGES,
        *,
        window_bytes: int = WINDOW_BYTES,
        id_base: int | None = None,
    ) -> None:
        if window < 1 or window_bytes < 1:
            raise ValueError("the window must hold at least one message")
        self._window = window
        self._window_bytes = window_bytes
        self._messages: deque[FeedMessage] = deque()
        self._bytes = 0
        self._last = time.time_ns() // 1000 if id_base is None else id_base

    @property
    def last_id(self) -> str:
        """The newest id issued (or the base before any message): a client's starting resume point."""
        return str(self._last)

    def append(
        self,
        type: MessageType,
        at: datetime,
        extensions: Iterable[str],
        queues: Iterable[str],
        payload: Mapping[str, Any],
        *,
        everyone: bool = False,
    ) -> FeedMessage:
        if type not in MESSAGE_TYPES:
            raise ValueError(f"unknown message type {type!r}")
        if at.tzinfo is None:
            raise ValueError("`at` must be timezone-aware")
        if not RESERVED_KEYS.isdisjoint(payload):
            raise ValueError(f"payload may not contain {sorted(RESERVED_KEYS & set(payload))}")
        message_id = str(self._last + 1)
        # Encoded here, once: a payload that is not JSON fails in the publisher, not for every client;
        # text that UTF-8 cannot carry is repaired here, so it fails nowhere.
        frame = sendable(
            json.dumps(
                {"id": message_id, "type": type, "at": format_time(at), **payload},
                ensure_ascii=False,
                separators=(",", ":"),
            )
        )
        self._last += 1
        message = FeedMessage(
            id=message_id,
            type=type,
            at=at,
            extensions=frozenset(extensions),
            queues=frozenset(queues),
            payload=payload,
            frame=frame,
            everyone=everyone,
            size=len(frame.encode("utf-8")),
        )
        self._keep(message)
        return message

    @property
    def window_bytes(self) -> int:
        """The bytes of frames the resume window holds now."""
        return self._bytes

    def _keep(self, message: FeedMessage) -> None:
        self._messages.append(message)
        self._bytes += message.size
        # The newest message always stays, however big: a client must be able to resume up to it.
        while len(self._messages) > 1 and (
            len(self._messages) > self._window or self._bytes > self._window_bytes
        ):
            self._bytes -= self._messages.popleft().size

    def since(self, last_id: str) -> list[FeedMessage] | None:
        """Messages after `last_id`, oldest first; None when they are no longer all in the window."""
        if not (last_id.isascii() and last_id.isdigit()) or len(last_id) > MAX_ID_CHARS:
            return None
        after = int(last_id)
        oldest_resumable = int(self._messages[0].id) - 1 if self._messages else self._last
        if not oldest_resumable <= after <= self._last:
            return None
        # Ids are consecutive, so the position in the deque follows from the id.
        return list(islice(self._messages, after - oldest_resumable, None))


def _names(command: Mapping[str, Any], key: str) -> frozenset[str]:
    value = command.get(key, [])
    if not isinstance(value, list):
        raise ProtocolError(f"{key} must be a list")
    if len(value) > MAX_SUBSCRIBED_NAMES:
        raise ProtocolError(f"too many {key} (at most {MAX_SUBSCRIBED_NAMES})")
    for name in value:
        if not isinstance(name, str) or not 0 < len(name) <= MAX_NAME_CHARS or not name.isprintable():
            raise ProtocolError(f"{key} must be short non-empty strings")
    return frozenset(value)


def parse_command(frame: str | bytes) -> Command:
    if not isinstance(frame, str):
        raise ProtocolError("binary frames are not accepted")
    try:
        command = json.loads(frame)
    except ValueError:
        # Also a number past Python's digit limit, when frames are allowed to be that long.
        raise ProtocolError("not JSON") from None
    except RecursionError:
        # JSON nested thousands deep: the parser gives up before the stack does. Garbage, not a crash.
        raise ProtocolError("nested too deep") from None
    if not isinstance(command, dict):
        raise ProtocolError("a command is a JSON object")
    # Unknown extra fields are ignored so that newer clients can talk to older servers.
    kind = command.get("type")
    if kind == "ping":
        return Ping()
    if kind == "resume":
        after = command.get("after")
        if not isinstance(after, str) or not 0 < len(after) <= MAX_ID_CHARS:
            raise ProtocolError("after must be a message id")
        return Resume(after)
    if kind == "subscribe":
        everything = command.get("all", False)
        if type(everything) is not bool:
            raise ProtocolError("all must be true or false")
        subscription = Subscription(_names(command, "extensions"), _names(command, "queues"), everything)
        # An empty subscription is almost always a typo in a field name: say so instead of staying silent.
        if not (subscription.everything or subscription.extensions or subscription.queues):
            raise ProtocolError("empty subscription")
        return Subscribe(subscription)
    raise ProtocolError("unknown command")


def authorize(grant: FeedGrant, subscription: Subscription) -> None:
    """A grant for every call (managers and admins) may subscribe to anything; any other sees the phones
    of its grant and any queue, never "all".

    Queues are allowed for operators because a ring group's calls ring on every member's phone anyway;
    the grant does not yet carry queue membership, so this is the one place to narrow it later.
    """
    if grant.every_call:
        return
    if subscription.everything:
        raise Forbidden("only managers and admins may subscribe to all")
    outside = subscription.extensions - set(grant.extensions)
    if outside:
        raise Forbidden(f"extensions outside the grant: {sorted(outside)}")
