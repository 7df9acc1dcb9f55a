"""What the assembler remembers about one Asterisk channel, and how a channel name tells what it is."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

ChannelKind = Literal["phone", "trunk", "local"]

# "PJSIP/101-0000002a" -> endpoint "101"; "SIP/trunk-0000000b" -> endpoint "trunk".
_ENDPOINT = re.compile(r"^(?P<tech>[^/]+)/(?P<resource>.+?)(?:-[0-9a-fA-F]{6,})?(?:<ZOMBIE>)?$")
UNKNOWN_NAMES = frozenset({"", "<unknown>", "unknown", "anonymous", "restricted", "<null>"})


def classify_channel(name: str, max_extension_digits: int = 5) -> tuple[ChannelKind, str | None]:
    """A phone when the endpoint is an extension number; Local is plumbing; anything else is a trunk."""
    if name.startswith("Local/"):
        return "local", None
    match = _ENDPOINT.match(name)
    resource = match.group("resource") if match else name
    if resource.isdigit() and 2 <= len(resource) <= max_extension_digits:
        return "phone", resource
    return "trunk", None


def local_pair_key(name: str) -> str | None:
    """Local/x@ctx-0001;1 and ;2 are two ends of one wire: both map to the same key."""
    if name.startswith("Local/") and name[-2:] in (";1", ";2"):
        return name[:-2]
    return None


@dataclass(slots=True)
class Channel:
    uniqueid: str
    linkedid: str
    name: str
    kind: ChannelKind
    extension: str | None
    created_at: datetime
    caller_num: str = ""
    caller_name: str = ""
    exten: str = ""
    first_exten: str = ""
    bridge: str | None = None
    # The channel was dialled (DialBegin named it as the destination): a phone leg that rings.
    dialed: bool = False
    hung_up_at: datetime | None = None
    cause: str = ""
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def alive(self) -> bool:
        return self.hung_up_at is None
