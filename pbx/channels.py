"""What the assembler remembers about one Asterisk channel, and how a channel name tells what it is.

Clinics' PBXs are set up by many hands: FreePBX names phones by their extension (``PJSIP/101``), others
use names (``SIP/reception``), MAC addresses or account codes (``SIP/150010001``), and trunks are named
after the provider (``SIP/voipgrid-siproute``). `ChannelClassifier` holds the clinic's rules for which
endpoints are phones, which are outside lines, and the extension a phone is known by.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

ChannelKind = Literal["phone", "trunk", "local"]

# "PJSIP/101-0000002a" -> endpoint "101"; "SIP/voipgrid-siproute-0000000b" -> "voipgrid-siproute".
_ENDPOINT = re.compile(r"^(?P<tech>[^/]+)/(?P<resource>.+?)(?:-[0-9a-fA-F]{6,})?(?:<ZOMBIE>)?$")
UNKNOWN_NAMES = frozenset({"", "<unknown>", "unknown", "anonymous", "restricted", "<null>"})
_PLACED_STATES = frozenset({"0", "3", "5"})  # Down, Dialing, Ringing
# Channel names repeat on every event of a call; a clinic has a few hundred endpoints at most.
_CACHE_LIMIT = 10_000


def endpoint_of(name: str) -> tuple[str, str]:
    """(technology, endpoint) of a channel name: ("PJSIP", "101") for "PJSIP/101-0000002a"."""
    match = _ENDPOINT.match(name)
    if match is None:
        return "", name
    return match.group("tech"), match.group("resource")


class ChannelClassifier:
    """Tells from a channel's name whether it is a clinic phone (and its extension), an outside line, or
    Asterisk's own plumbing (Local channels). Pure, and built once from the settings.

    The first rule that matches decides, in this order: Local channels are plumbing; endpoints listed as
    trunks; endpoints listed as phones (or given an extension); trunk patterns; phone patterns (by default:
    2..`max_extension_digits` digits, as FreePBX names its phones); anything else is an outside line.

    Lists name an endpoint either alone (``"reception"``, any technology) or with its technology
    (``"SIP/reception"``). Patterns are regular expressions that must match the whole endpoint name.
    """

    def __init__(
        self,
        *,
        max_extension_digits: int = 5,
        phones: Iterable[str] = (),
        phone_patterns: Iterable[str] | None = None,
        trunks: Iterable[str] = (),
        trunk_patterns: Iterable[str] = (),
        extensions: Mapping[str, str] | None = None,
    ) -> None:
        self._extensions = dict(extensions or {})
        self._phones = frozenset(phones) | frozenset(self._extensions)
        self._trunks = frozenset(trunks)
        both = self._phones & self._trunks
        if both:
            raise ValueError(f"endpoints listed both as phones and as trunks: {sorted(both)}")
        if phone_patterns is None:
            phone_patterns = [rf"[0-9]{{2,{max_extension_digits}}}"]
        self._phone_patterns = tuple(_compile(p) for p in phone_patterns)
        self._trunk_patterns = tuple(_compile(p) for p in trunk_patterns)
        self._cache: dict[str, tuple[ChannelKind, str | None]] = {}

    def classify(self, name: str) -> tuple[ChannelKind, str | None]:
        """The channel's kind, and for a phone the extension it is known by."""
        known = self._cache.get(name)
        if known is None:
            known = self._decide(name)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[name] = known
        return known

    def endpoint_for(self, extension: str) -> str:
        """The endpoint of the phone known by `extension` (click-to-call rings it): ``201`` ->
        ``150010001`` when so mapped, else the extension itself."""
        for endpoint, mapped in self._extensions.items():
            if mapped == extension:
                return endpoint.split("/", 1)[-1]
        return extension

    def _decide(self, name: str) -> tuple[ChannelKind, str | None]:
        if name.startswith("Local/"):
            return "local", None
        tech, endpoint = endpoint_of(name)
        qualified = f"{tech}/{endpoint}"
        if endpoint in self._trunks or qualified in self._trunks:
            return "trunk", None
        if endpoint in self._phones or qualified in self._phones:
            return "phone", self._extensions.get(qualified) or self._extensions.get(endpoint) or endpoint
        if any(p.fullmatch(endpoint) for p in self._trunk_patterns):
            return "trunk", None
        if any(p.fullmatch(endpoint) for p in self._phone_patterns):
            return "phone", endpoint
        return "trunk", None


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None


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
    # Arrival order among the assembler's channels: creation order, even within one timestamp.
    order: int = 0
    caller_num: str = ""
    caller_name: str = ""
    # The other party as Asterisk first showed it to this channel (ConnectedLineNum): on an outgoing leg
    # of chan_sip, the caller ID the clinic sends, while its CallerIDNum is the number dialled (after a
    # transfer Asterisk shows the phone the leg was put through to instead; the first one is kept).
    connected_num: str = ""
    exten: str = ""
    first_exten: str = ""
    bridge: str | None = None
    # The channel was dialled (DialBegin named it as the destination): a phone leg that may ring.
    dialed: bool = False
    # The Linkedid the channel was born with: Asterisk moves channels between calls (transfers, pickups),
    # and the call a channel came from tells who was whose party.
    first_linkedid: str = ""
    # When the phone really rang (its leg reached Ringing, or picked up); None: dialled but never rang
    # (do not disturb, unreachable, forwarded before ringing).
    rang_at: datetime | None = None
    # The dial string this leg was dialled with ("+79161234567@trunk"), or "".
    dial_string: str = ""
    # The ChannelState the channel was first seen in: Asterisk creates a call coming in in Ring ("4")
    # (chan_sip: Down, then at once Ring, read as Ring), and a leg it places itself Down ("0"), before it
    # dials or rings ("3", "5").
    first_state: str = ""
    # Position among the assembler's events when the phone first rang: which ring came after what (a
    # transfer), also when a recording carries no times.
    rang_seq: int = 0
    # The channel has talked to another real party through a bridge (Local channels followed).
    connected: bool = False
    hung_up_at: datetime | None = None
    cause: str = ""
    variables: dict[str, str] = field(default_factory=dict)

    @property
    def alive(self) -> bool:
        return self.hung_up_at is None

    @property
    def placed_by_the_pbx(self) -> bool:
        """A leg Asterisk placed (dialled out, originated), not a call that came in: dialled, seen first
        down or dialling, or not the first channel of its call (a call coming in starts its call)."""
        return self.dialed or self.first_state in _PLACED_STATES or self.uniqueid != self.first_linkedid
