"""Every close code the operator feed uses, in one place (documented in docs/feed.md).

4xxx codes are application codes: a browser's `CloseEvent.code` shows them, unlike HTTP statuses of a
refused handshake, so the console can tell "fetch a new token" (4408) from "give up" (4403).
"""

from __future__ import annotations

from enum import IntEnum


class FeedClose(IntEnum):
    PROTOCOL_ERROR = 4400  # garbage frame, unknown command, wrong field types, resume before subscribe
    NO_TOKEN = 4401  # the URL carried no ?token=
    FORBIDDEN = 4403  # bad/tampered token, role without feed access, subscription outside the grant
    EXPIRED_TOKEN = 4408  # the token was valid but expired before the connection was made
    GRANT_CHANGED = 4409  # the holder's role or phones changed: a new token carries the new grant
    LOGIN_ENDED = 4440  # the login or API token behind the token ended (logout, disabled, revoked, ...)
    TOO_SLOW = 4008  # the client's outgoing queue overflowed: it does not read fast enough
    INVALID_TEXT = 1007  # a text frame that is not UTF-8 (closed by websockets itself)
    MESSAGE_TOO_BIG = 1009  # a client frame above max_message_bytes (closed by websockets itself)
    INTERNAL_ERROR = 1011  # a fault on the server's side (websockets also uses it for a missed pong)


# Short reasons: a close reason must fit in 123 bytes, and it is for humans reading logs, not for logic.
REASONS: dict[FeedClose, str] = {
    FeedClose.PROTOCOL_ERROR: "protocol error",
    FeedClose.NO_TOKEN: "no token",
    FeedClose.FORBIDDEN: "forbidden",
    FeedClose.EXPIRED_TOKEN: "token expired",
    FeedClose.GRANT_CHANGED: "grant changed",
    FeedClose.LOGIN_ENDED: "login ended",
    FeedClose.TOO_SLOW: "too slow",
    FeedClose.INVALID_TEXT: "invalid text",
    FeedClose.MESSAGE_TOO_BIG: "message too big",
    FeedClose.INTERNAL_ERROR: "internal error",
}
