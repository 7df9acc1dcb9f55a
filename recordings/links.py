"""Signed links to a recording: ``/r/<recording id>/<expires unix>/<signature>``, good until they expire.

Pure. The signature is HMAC-SHA256 over the recording id and the expiry under a key every node shares
(``recordings.link_secret``, or the generated ``app_secrets`` row): any node can check a link another
made, and nobody without the key can make one or move its expiry. Nothing is stored per link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum

PREFIX = "/r/"
# A link lives at most a week: long enough for a CRM to show it, short enough that one that leaked goes
# dead on its own.
MAX_TTL_SECONDS = 7 * 24 * 3600
# Keeps a link made by one version valid in the next, and a signature here useless anywhere else the
# key might be used.
_CONTEXT = b"kolokol recording link v1\n"
_EXPIRES = re.compile(r"[0-9]{1,12}", re.ASCII)
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{43}", re.ASCII)


class LinkState(Enum):
    VALID = "valid"
    EXPIRED = "link-expired"
    INVALID = "link-invalid"


@dataclass(frozen=True, slots=True)
class SignedLink:
    path: str
    expires_at: datetime


def _signature(key: bytes, recording_id: str, expires: int) -> str:
    message = _CONTEXT + f"{recording_id}\n{expires}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def effective_ttl(requested: int | None, default: int) -> int:
    """The link's lifetime: what was asked (or the configured default), capped at a week."""
    return min(requested if requested is not None else default, MAX_TTL_SECONDS)


def sign(key: bytes, recording_id: str, *, now: datetime, ttl_seconds: int) -> SignedLink:
    # Whole seconds, rounded up: the link is good for at least the time asked.
    expires = int(now.timestamp()) + ttl_seconds + (1 if now.microsecond else 0)
    path = f"{PREFIX}{recording_id}/{expires}/{_signature(key, recording_id, expires)}"
    return SignedLink(path, datetime.fromtimestamp(expires, UTC))


def check(key: bytes, recording_id: str, expires: str, signature: str, *, now: datetime) -> LinkState:
    """A link's path parts as received. A forged or altered link is invalid whether or not its claimed
    expiry has passed; an authentic one is expired from its expiry second on."""
    if not _EXPIRES.fullmatch(expires) or not _SIGNATURE.fullmatch(signature) or len(recording_id) > 32:
        return LinkState.INVALID
    expected = _signature(key, recording_id, int(expires))
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii")):
        return LinkState.INVALID
    if now >= datetime.fromtimestamp(int(expires), UTC):
        return LinkState.EXPIRED
    return LinkState.VALID
