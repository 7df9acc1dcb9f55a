"""Hardened Asterisk AMI client built on panoramisk 1.4.

This is the only module allowed to import panoramisk.  panoramisk is used for
what it does well (action IDs, serialising actions, matching responses and
multi-message event lists to futures, ``'*'`` event dispatch) and patched
around its known hazards (research notes, asterisk_ami.md §1.6):

* it decodes every TCP read separately, losing UTF-8 characters split between
  reads -> our protocol frames bytes with ``AmiFramer`` before decoding;
* a raising event callback kills the transport -> the only callback puts
  events on a queue, and one consumer task awaits the handler in order;
* actions have no timeout -> every action goes through ``asyncio.wait_for``;
* its ping is fire-and-forget, so half-open TCP is never noticed -> our
  watchdog awaits the Pong and aborts the transport when it does not come;
* it reconnects at a fixed interval and replays stale actions -> our own
  supervisor reconnects with exponential backoff and jitter and fails pending
  actions instead of replaying them on a new session.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any

from panoramisk import Manager
from panoramisk.actions import Action
from panoramisk.ami_protocol import AMIProtocol
from panoramisk.message import Message

from pbx.ami_framing import AmiFramer, AmiMessage

__all__ = [
    "AmiActionFailed",
    "AmiActionTimeout",
    "AmiClient",
    "AmiError",
    "AmiMessage",
    "AmiNotConnected",
    "EventHandler",
    "ResyncHandler",
]

logger = logging.getLogger("kolokol.ami")

EventHandler = Callable[[AmiMessage], Awaitable[None]]
ResyncHandler = Callable[[list[AmiMessage]], Awaitable[None]]

# Attribute name under which the framed dict travels on a panoramisk Message,
# so handlers get exactly what the framer produced (panoramisk's Message adds
# a synthetic "content" key and is case-insensitive).
_RAW_ATTR = "_kolokol_raw"


class AmiError(Exception):
    """Base class for AMI client errors."""


class AmiNotConnected(AmiError):
    """No logged-in AMI session to send the action on (or it was lost)."""


class AmiActionTimeout(AmiError, TimeoutError):
    """Asterisk did not complete the action's reply in time."""


class AmiActionFailed(AmiError):
    """Asterisk answered the action with an error response."""

    def __init__(self, response: AmiMessage) -> None:
        super().__init__(response.get("Message") or response.get("Response") or "action failed")
        self.response = response


class _LoginFailed(AmiError):
    pass


@dataclass(frozen=True)
class _Resync:
    channels: list[AmiMessage]


_QueueItem = AmiMessage | _Resync


def _raw(message: Any) -> AmiMessage:
    raw = message.__dict__.get(_RAW_ATTR)
    if isinstance(raw, dict):
        return raw
    # Messages not built by our protocol (should not happen) lose nothing
    # important by being flattened.
    return {str(k): str(v) for k, v in message.items() if k != "content"}


class _FramedProtocol(AMIProtocol):  # type: ignore[misc]
    """AMIProtocol whose input is framed as bytes before any decoding."""

    def __init__(self, manager: Any, on_completed: Callable[[Any], None]) -> None:
        super().__init__()
        self._manager = manager
        self._on_completed = on_completed

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        # Wired here rather than after create_connection() returns: data can
        # be read before the connecting coroutine resumes, and panoramisk
        # dispatches through ``factory``.
        self.factory = self._manager
        self.config = self._manager.config
        self.encoding = "utf8"
        self.log = logging.getLogger("kolokol.ami.panoramisk")
        self.framer = AmiFramer()
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        for fields in self.framer.feed(data):
            if "Event" not in fields and "Response" not in fields:
                continue
            message = Message(dict(fields))
            setattr(message, _RAW_ATTR, fields)
            self.handle_message(message)

    def handle_message(self, message: Any) -> None:
        # Look the action up before panoramisk pops it on completion, so we
        # can react synchronously, before later events in the same read.
        action = self.responses.get(message.id)
        if action is None and message.action_id:
            action = self.responses.get(message.action_id)
        super().handle_message(message)
        if action is not None and action.future.done():
            self._on_completed(action)

    def close(self) -> None:
        # Fail outstanding actions now; panoramisk would park them for replay
        # on the next session, long after their callers gave up.
        for action in list(self.responses.values()):
            if not action.future.done():
                action.future.set_exception(AmiNotConnected("AMI connection closed"))
        self.responses.clear()
        super().close()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.lost.done():
            self.lost.set_result(None)


class _Manager(Manager):  # type: ignore[misc]
    """panoramisk Manager with its own connect/login/ping/reconnect disabled."""

    def __init__(self, on_lost: Callable[[], None], **config: Any) -> None:
        super().__init__(**config)
        self._on_lost = on_lost
        # panoramisk re-sends queued actions on FullyBooted; a reconnected
        # session must not replay actions whose callers already gave up.
        self.callbacks.pop("FullyBooted", None)
        patterns: list[tuple[str, Any]] = list(getattr(self, "patterns", []))
        self.patterns = [(p, r) for p, r in patterns if p != "FullyBooted"]

    def connection_lost(self, exc: Any) -> None:
        self._connected = False
        self._on_lost()


class AmiClient:
    def __init__(
        self,
        *,
        host: str,
        port: int,
        username: str,
        secret: str,
        on_event: EventHandler,
        on_resync: ResyncHandler,
        events: Collection[str] | None = None,
        action_timeout: float = 5.0,
        ping_interval: float = 10.0,
        ping_timeout: float = 5.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
    ) -> None:
        self._host = host
        self._port = port
        self._username = username
        self._secret = secret
        self._on_event = on_event
        self._on_resync = on_resync
        # The events handed to on_event (the consumers' handler tables); None: every event. The AMI
        # user's eventfilter should send no others, but a PBX configured otherwise costs only a lookup.
        self._events = frozenset(events) if events is not None else None
        self._action_timeout = action_timeout
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._manager: _Manager | None = None
        self._protocol: _FramedProtocol | None = None
        self._queue: asyncio.Queue[_QueueItem] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self._disconnected: asyncio.Event | None = None
        self._resync_action_ids: set[str] = set()
        self._logged_in = False
        self.connections = 0  # successful logins; lets callers/tests see reconnects

    @property
    def logged_in(self) -> bool:
        return self._logged_in

    async def start(self) -> None:
        if self._supervisor is not None:
            return
        self._queue = asyncio.Queue()
        self._disconnected = asyncio.Event()
        # Built here, inside the running loop: panoramisk 1.4 grabs the
        # current loop and creates futures at construction/action time.
        self._manager = _Manager(
            self._disconnected.set,
            host=self._host,
            port=self._port,
            loop=asyncio.get_running_loop(),
            encoding="utf8",
            log=logging.getLogger("kolokol.ami.panoramisk"),
        )
        self._manager.register_event("*", self._enqueue_event)
        self._consumer = asyncio.create_task(self._consume(), name="kolokol-ami-consumer")
        self._supervisor = asyncio.create_task(self._supervise(), name="kolokol-ami-supervisor")

    async def stop(self) -> None:
        tasks = [t for t in (self._supervisor, self._consumer) if t is not None]
        self._supervisor = self._consumer = None
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._close_connection()

    # The per-call timeout is part of the agreed API; it feeds asyncio.wait_for.
    async def send_action(
        self,
        action: dict[str, str],
        timeout: float | None = None,  # noqa: ASYNC109
        *,
        first_reply_only: bool = False,
    ) -> list[AmiMessage]:
        """Send an action and wait for its reply.

        ``first_reply_only``: return at the first response even when more will follow (an async
        Originate's outcome comes much later, as an ``OriginateResponse`` event with the same ActionID,
        which then reaches the event handler like any other event).
        """
        if not self._logged_in:
            raise AmiNotConnected(f"not logged in to AMI at {self._host}:{self._port}")
        return await self._send(action, timeout, as_list=False if first_reply_only else None)

    async def core_show_channels(self) -> list[AmiMessage]:
        replies = await self.send_action({"Action": "CoreShowChannels"})
        return [m for m in replies if m.get("Event") == "CoreShowChannel"]

    # -- internals ---------------------------------------------------------

    async def _send(
        self, action: dict[str, str], wait: float | None, *, as_list: bool | None = None
    ) -> list[AmiMessage]:
        manager, protocol = self._manager, self._protocol
        if manager is None or protocol is None or protocol.closed:
            raise AmiNotConnected(f"no AMI connection to {self._host}:{self._port}")
        # panoramisk overwrites the Action's own as_list with the one given here.
        future = manager.send_action(Action(dict(action)), as_list=as_list)
        name = action.get("Action", "?")
        try:
            result = await asyncio.wait_for(future, wait if wait is not None else self._action_timeout)
        except TimeoutError:
            self._forget(protocol, future)
            raise AmiActionTimeout(f"AMI action {name} got no complete reply") from None
        replies = [_raw(m) for m in (result if isinstance(result, list) else [result])]
        first = replies[0] if replies else {}
        if first.get("Response") in ("Error", "Fail", "Failure"):
            raise AmiActionFailed(first)
        return replies

    @staticmethod
    def _forget(protocol: _FramedProtocol, future: Any) -> None:
        # A timed-out action must not linger in panoramisk's table, where a
        # late reply would resolve a cancelled future or leak memory.
        for key in [k for k, a in protocol.responses.items() if a.future is future]:
            protocol.responses.pop(key, None)

    def _enqueue_event(self, _manager: Any, message: Any) -> None:
        # Sync and trivial on purpose: anything raised inside panoramisk's
        # dispatch would propagate into data_received and kill the transport.
        if self._queue is None:
            return
        event = _raw(message)
        if self._events is None or event.get("Event") in self._events:
            self._queue.put_nowait(event)

    def _on_action_completed(self, action: Any) -> None:
        action_id = action.action_id
        if action_id not in self._resync_action_ids or self._queue is None:
            return
        self._resync_action_ids.discard(action_id)
        if action.future.cancelled() or action.future.exception() is not None:
            return
        result = action.future.result()
        replies = [_raw(m) for m in (result if isinstance(result, list) else [result])]
        if replies and replies[0].get("Response") not in ("Error", "Fail", "Failure"):
            # Enqueued right here, while the completing read is being parsed,
            # so the snapshot sits before every event Asterisk sent after it.
            self._queue.put_nowait(_Resync([m for m in replies if m.get("Event") == "CoreShowChannel"]))

    async def _consume(self) -> None:
        assert self._queue is not None
        while True:
            item = await self._queue.get()
            try:
                if isinstance(item, _Resync):
                    await self._on_resync(item.channels)
                else:
                    await self._on_event(item)
            except Exception:
                # A buggy handler must cost one event, not the AMI session.
                what = "resync" if isinstance(item, _Resync) else item.get("Event", "?")
                logger.exception("AMI handler failed for %s", what)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._backoff_max, self._backoff_initial * (2.0**attempt))
        # Jitter spreads reconnects of many clients after an Asterisk restart;
        # not security relevant.
        return ceiling * random.uniform(0.5, 1.0)  # noqa: S311

    async def _supervise(self) -> None:
        attempt = 0
        while True:
            try:
                await self._connect_and_login()
                attempt = 0
                await self._run_session()
            except _LoginFailed as exc:
                logger.error(
                    "AMI login to %s:%s as %r rejected: %s", self._host, self._port, self._username, exc
                )
            except AmiError as exc:
                logger.warning("AMI session to %s:%s failed: %s", self._host, self._port, exc)
            except OSError as exc:
                logger.warning("AMI connect to %s:%s failed: %s", self._host, self._port, exc)
            finally:
                await self._close_connection()
            delay = self._backoff(attempt)
            attempt += 1
            logger.info("AMI reconnecting to %s:%s in %.2fs", self._host, self._port, delay)
            await asyncio.sleep(delay)

    async def _connect_and_login(self) -> None:
        manager, disconnected = self._manager, self._disconnected
        assert manager is not None
        assert disconnected is not None
        loop = asyncio.get_running_loop()
        disconnected.clear()
        try:
            _transport, protocol = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _FramedProtocol(manager, self._on_action_completed), self._host, self._port
                ),
                self._action_timeout,
            )
        except TimeoutError:
            raise AmiActionTimeout("TCP connect timed out") from None
        assert isinstance(protocol, _FramedProtocol)
        manager.protocol = protocol
        manager._connected = True
        self._protocol = protocol
        await self._login()

    async def _login(self) -> list[AmiMessage]:
        try:
            return await self._send(
                {"Action": "Login", "Username": self._username, "Secret": self._secret, "Events": "on"}, None
            )
        except AmiActionFailed as exc:
            raise _LoginFailed(str(exc)) from None

    async def _run_session(self) -> None:
        assert self._disconnected is not None
        self._logged_in = True
        self.connections += 1
        logger.info("AMI logged in to %s:%s", self._host, self._port)
        watchdog = asyncio.create_task(self._ping_watchdog(), name="kolokol-ami-ping")
        try:
            await self._resync()
            await self._disconnected.wait()
            logger.warning("AMI connection to %s:%s lost", self._host, self._port)
        finally:
            self._logged_in = False
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog

    async def _resync(self) -> None:
        # Our own ActionID, registered before sending, so the completing reply
        # is recognised inside data_received (see _on_action_completed).
        action_id = f"kolokol-resync-{uuid.uuid4()}"
        self._resync_action_ids.add(action_id)
        try:
            await self._send({"Action": "CoreShowChannels", "ActionID": action_id}, None)
        except AmiActionTimeout:
            # The watchdog decides whether the link is dead; a slow snapshot
            # alone is not a reason to drop a live event stream.
            logger.warning("AMI CoreShowChannels timed out; channel state not resynchronised")
        except AmiActionFailed as exc:
            logger.error("AMI CoreShowChannels refused (needs system/reporting read): %s", exc)
        finally:
            self._resync_action_ids.discard(action_id)

    async def _ping_watchdog(self) -> None:
        while True:
            await asyncio.sleep(self._ping_interval)
            try:
                await self._send({"Action": "Ping"}, self._ping_timeout)
            except AmiActionTimeout:
                logger.warning("AMI ping to %s:%s unanswered; dropping connection", self._host, self._port)
                protocol = self._protocol
                if protocol is not None and protocol.transport is not None:
                    # abort() rather than close(): a half-open socket may never
                    # flush, and connection_lost must fire now.
                    protocol.transport.abort()
                return
            except AmiActionFailed:
                # Any answer proves the link is alive.
                continue
            except AmiNotConnected:
                return

    async def _close_connection(self) -> None:
        protocol, self._protocol = self._protocol, None
        self._logged_in = False
        self._resync_action_ids.clear()
        if protocol is None:
            return
        if not protocol.closed:
            protocol.close()
        if self._manager is not None:
            self._manager.awaiting_actions.clear()
            if self._manager.protocol is protocol:
                self._manager.protocol = None
        # Wait for asyncio to actually release the socket so nothing is left
        # half-closed (ResourceWarning) when the loop goes away.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(protocol.lost), 1.0)
