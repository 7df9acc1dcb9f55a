"""Click-to-call through Asterisk: ring the operator's phone, then dial the patient.

The HTTP request returns as soon as Asterisk has queued the Originate. Its outcome arrives later as an
``OriginateResponse`` event; a failure (the phone is offline, busy, nobody picked up) is told to that
operator's screen, because otherwise a click would just silently do nothing. A successful call needs no
message: the call itself appears on the feed like any other.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from kolokol.phones import PhoneNormalizer, format_for_reading
from kolokol.settings import AsteriskSettings
from pbx.ami import AmiActionFailed
from pbx.originate import dial_string, failure_reason, originate_action

log = logging.getLogger("kolokol.calls.click_to_call")
# How long after its own ring timeout an Originate's outcome is still waited for.
_OUTCOME_GRACE_SECONDS = 30


@dataclass(frozen=True, slots=True)
class OriginateFailed:
    """The operator's phone could not be rung for a click-to-call: told to that operator's screen."""

    extension: str
    number: str
    reason: str
    at: datetime


class AmiActions(Protocol):
    @property
    def logged_in(self) -> bool: ...

    async def send_action(
        self,
        action: dict[str, str],
        timeout: float | None = None,  # noqa: ASYNC109
        *,
        first_reply_only: bool = False,
    ) -> Sequence[Mapping[str, str]]: ...


class PbxUnavailable(Exception):
    """Asterisk cannot take the call now (not connected, not answering)."""


class OriginateRefused(Exception):
    """Asterisk answered the Originate with an error (the message says why)."""


class AlreadyCalling(Exception):
    """This phone is already being rung for a click-to-call."""


@dataclass(frozen=True, slots=True)
class _Pending:
    extension: str
    number: str
    expires: float


class ClickToCall:
    def __init__(
        self,
        ami: AmiActions,
        phones: PhoneNormalizer,
        settings: AsteriskSettings,
        on_failure: Callable[[OriginateFailed], None],
        *,
        clock: Callable[[], float] = time.monotonic,
        endpoint_for: Callable[[str], str] = str,
    ) -> None:
        self._ami = ami
        # The endpoint of the phone an extension names (phones.extensions: "201" -> "150010001").
        self._endpoint_for = endpoint_for
        self._phones = phones
        self._settings = settings
        self._on_failure = on_failure
        self._clock = clock
        self._pending: dict[str, _Pending] = {}

    async def originate(self, extension: str, number: str) -> None:
        """Ring `extension`, then dial `number` (E.164) from it."""
        self._forget_expired()
        if any(p.extension == extension for p in self._pending.values()):
            raise AlreadyCalling(extension)
        if not self._ami.logged_in:
            raise PbxUnavailable("not connected to Asterisk")
        settings = self._settings
        action_id = f"kolokol-originate-{uuid.uuid4().hex}"
        action = originate_action(
            action_id=action_id,
            channel=settings.originate_channel.replace("{extension}", self._endpoint_for(extension)),
            context=settings.originate_context,
            dial=dial_string(number, settings.originate_number_format, self._phones.national_digits(number)),
            ring_seconds=settings.originate_ring_seconds,
            display=format_for_reading(number),
            extension=extension,
        )
        expires = self._clock() + settings.originate_ring_seconds + _OUTCOME_GRACE_SECONDS
        self._pending[action_id] = _Pending(extension, number, expires)
        try:
            await self._ami.send_action(action, first_reply_only=True)
        except AmiActionFailed as exc:
            self._pending.pop(action_id, None)
            raise OriginateRefused(str(exc)) from exc
        except Exception as exc:
            # Not connected, or no answer in time: either way Asterisk cannot take it now.
            self._pending.pop(action_id, None)
            raise PbxUnavailable(str(exc) or type(exc).__name__) from exc
        log.info("originate queued", extra={"extension": extension, "action_id": action_id})

    # The AMI events this consumer handles (registered with the client, listed in manager.conf).
    handled_events = frozenset({"OriginateResponse"})

    def on_event(self, event: Mapping[str, str]) -> None:
        if event.get("Event") != "OriginateResponse":
            return
        pending = self._pending.pop(event.get("ActionID", ""), None)
        if pending is None or event.get("Response") == "Success":
            return
        reason = failure_reason(event.get("Reason"))
        log.info("originate failed", extra={"extension": pending.extension, "reason": reason})
        self._on_failure(OriginateFailed(pending.extension, pending.number, reason, datetime.now(UTC)))

    def _forget_expired(self) -> None:
        # An outcome that never came (a lost connection): the phone may be rung again.
        now = self._clock()
        for action_id in [a for a, p in self._pending.items() if p.expires < now]:
            del self._pending[action_id]
