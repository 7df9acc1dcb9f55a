"""The websocket adapter around the hub: handshake checks, one reader and one sender per client.

Fan-out never awaits a client. `publish` writes the frame (encoded once) straight into the socket of each
matching client that has nothing else pending, as `websockets.broadcast` does: no task switch and no
queue per client per message, which is most of the cost at a thousand consoles. A client that is busy
(a resume replay, a control frame being written) gets it through its bounded queue and its own sender
task instead, so its frames stay in order. A client that does not keep up (its queue full, or too much
unsent data in its socket) is closed with 4008 ("too slow") instead of slowing everyone else down.

A token is only checked when it connects, so the server also asks a `GrantCheck` (the issuer's view of
its logins and API tokens) on connect and every `grant_check_seconds` whether each connection's grant
still stands, and closes those that do not (4440 login ended, 4409 grant changed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, broadcast, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from softphone_ws.close_codes import REASONS, FeedClose
from softphone_ws.feed_tokens import FeedGrant, TokenRejected, signed_origin, verify
from softphone_ws.grant_check import CLOSE_CODES, GrantCheck
from softphone_ws.hub import (
    FeedMessage,
    Forbidden,
    Hub,
    MessageType,
    Ping,
    ProtocolError,
    Resume,
    Subscribe,
    Subscription,
    authorize,
    parse_command,
)

logger = logging.getLogger(__name__)

PONG_FRAME = '{"type":"pong"}'
RESYNC_FRAME = '{"type":"resync"}'

# A queue item: (message id, frame). Control frames (pong, resync, subscribed) carry no id.
Outgoing = tuple[int | None, str]


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(eq=False)
class _Client:
    connection: ServerConnection
    grant: FeedGrant
    queue: asyncio.Queue[Outgoing]
    subscription: Subscription | None = None
    subscribed_at_id: int = 0  # the hub's last id when the current subscription started
    last_taken_id: int = 0  # the newest message id the sender took: never send an older or equal one
    sender: asyncio.Task[None] | None = field(default=None, repr=False)
    busy: bool = False  # the sender holds a frame it has not finished writing

    def idle(self) -> bool:
        """Nothing pending: a new frame may go straight to the socket without overtaking another."""
        return not self.busy and self.queue.empty()

    def unsent_bytes(self) -> int:
        transport = self.connection.transport
        return transport.get_write_buffer_size() if transport is not None else 0


class _CloseConnection(Exception):
    def __init__(self, code: FeedClose) -> None:
        super().__init__(code)
        self.code = code


def token_from_path(path: str) -> str | None:
    """The `token` query parameter; browsers cannot set headers on a websocket, so it rides the URL."""
    values = parse_qs(urlsplit(path).query, keep_blank_values=True).get("token", [])
    if len(values) != 1 or not values[0]:
        return None
    return values[0]


class FeedServer:
    def __init__(
        self,
        hub: Hub,
        secret: bytes,
        *,
        host: str,
        port: int,
        allowed_origins: Sequence[str],
        clock: Callable[[], datetime] = _utc_now,
        max_message_bytes: int = 4096,
        send_queue: int = 256,
        max_unsent_bytes: int = 1 << 20,
        ping_interval: float | None = 10,
        ping_timeout: float | None = 10,
        close_timeout: float = 5,
        grant_check: GrantCheck | None = None,
        grant_check_seconds: float = 3,
    ) -> None:
        if not secret:
            raise ValueError("empty feed secret")
        if grant_check_seconds <= 0:
            raise ValueError("grant_check_seconds must be positive")
        self._hub = hub
        self._secret = secret
        self._host = host
        self._requested_port = port
        self._allowed_origins = frozenset(allowed_origins)
        self._clock = clock
        self._max_message_bytes = max_message_bytes
        self._send_queue = send_queue
        self._max_unsent = max_unsent_bytes
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._close_timeout = close_timeout
        self._grant_check = grant_check
        self._grant_check_seconds = grant_check_seconds
        self._server: Server | None = None
        self._clients: set[_Client] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self._checker: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the feed server is not started")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def last_id(self) -> str:
        """The newest message id: a snapshot taken now is current up to here."""
        return self._hub.last_id

    @property
    def clients(self) -> int:
        """Authenticated connections that still receive messages (a dropped slow client is not counted)."""
        return len(self._clients)

    async def start(self) -> None:
        self._server = await serve(
            self._handle,
            self._host,
            self._requested_port,
            process_request=self._check_origin,
            max_size=self._max_message_bytes,
            ping_interval=self._ping_interval,
            ping_timeout=self._ping_timeout,
            close_timeout=self._close_timeout,
            # Frames are small JSON; compression would cost CPU per client on every fan-out.
            compression=None,
        )
        if self._grant_check is not None:
            self._checker = asyncio.create_task(self._check_grants_forever(), name="feed-grant-check")

    async def stop(self) -> None:
        if self._server is None:
            return
        if self._checker is not None:
            self._checker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._checker
            self._checker = None
        self._server.close()
        await self._server.wait_closed()
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)
        self._server = None

    def watched(self, extensions: frozenset[str], queues: frozenset[str]) -> bool:
        """Is anybody connected who would receive a message about these phones and queues?"""
        return any(
            c.subscription is not None and c.subscription.covers(extensions, queues) for c in self._clients
        )

    def publish(
        self,
        type: MessageType,
        at: datetime,
        extensions: Iterable[str],
        queues: Iterable[str],
        payload: Mapping[str, Any],
        *,
        everyone: bool = False,
    ) -> FeedMessage:
        message = self._hub.append(type, at, extensions, queues, payload, everyone=everyone)
        item: Outgoing = (int(message.id), message.frame)
        direct: list[ServerConnection] = []
        for client in list(self._clients):
            if client.subscription is None or not client.subscription.matches(message):
                continue
            if not client.idle():
                self._enqueue(client, item)
            elif client.unsent_bytes() > self._max_unsent:
                self._drop(client, FeedClose.TOO_SLOW)
            else:
                client.last_taken_id = int(message.id)
                direct.append(client.connection)
        if direct:
            # One UTF-8 encoding for all of them; connections closing meanwhile are skipped.
            broadcast(direct, message.frame)
        return message

    # -- handshake -------------------------------------------------------------------------------

    def _check_origin(self, connection: ServerConnection, request: Request) -> Response | None:
        # A browser always sends Origin, so a missing one is a non-browser client (it still needs a token).
        # A listed origin passes, and so does the page a genuine token was issued to; anything else is
        # refused before the websocket exists.
        origins = request.headers.get_all("Origin")
        if not origins:
            return None
        if len(origins) == 1:
            origin = origins[0]
            if origin in self._allowed_origins:
                return None
            token = token_from_path(request.path)
            if token is not None and signed_origin(self._secret, token) == origin:
                return None
        return connection.respond(HTTPStatus.FORBIDDEN, "origin not allowed\n")

    def _authenticate(self, connection: ServerConnection) -> FeedGrant:
        # Checked after the handshake so that the browser sees a close code (4401/4403/4408), which it
        # cannot see for a refused handshake; that is how the console knows to fetch a fresh token.
        request = connection.request
        token = token_from_path(request.path) if request is not None else None
        if token is None:
            raise _CloseConnection(FeedClose.NO_TOKEN)
        try:
            return verify(self._secret, token, now=self._clock())
        except TokenRejected as rejected:
            expired = rejected.reason == "expired"
            raise _CloseConnection(FeedClose.EXPIRED_TOKEN if expired else FeedClose.FORBIDDEN) from None

    async def _admit(self, grant: FeedGrant) -> None:
        """Refuse a genuine token whose login has ended or whose grant changed since it was minted."""
        if self._grant_check is None:
            return
        try:
            revoked = await self._grant_check([grant])
        except Exception:
            # The database is away: let the console in (it must see rings); the next check decides.
            logger.warning("feed: could not check a connecting client's login", exc_info=True)
            return
        why = revoked.get(grant)
        if why is not None:
            raise _CloseConnection(CLOSE_CODES[why])

    # -- logins that end while connected ---------------------------------------------------------------

    async def _check_grants_forever(self) -> None:
        while True:
            await asyncio.sleep(self._grant_check_seconds)
            await self.check_grants()

    async def check_grants(self) -> None:
        """Close every connection whose login ended or whose grant changed (run every few seconds)."""
        if self._grant_check is None:
            return
        clients = list(self._clients)
        if not clients:
            return
        try:
            revoked = await self._grant_check({client.grant for client in clients})
        except Exception:
            # Never close everyone because the database blinked; the next round catches up.
            logger.warning("feed: could not check the connected clients' logins", exc_info=True)
            return
        for client in clients:
            why = revoked.get(client.grant)
            if why is not None and client in self._clients:
                self._drop(client, CLOSE_CODES[why])

    # -- one connection ------------------------------------------------------------------------------

    async def _handle(self, connection: ServerConnection) -> None:
        client: _Client | None = None
        try:
            grant = self._authenticate(connection)
            await self._admit(grant)
            client = _Client(connection, grant, asyncio.Queue(self._send_queue))
            client.sender = asyncio.create_task(self._send_loop(client))
            self._clients.add(client)
            async for frame in connection:
                self._on_frame(client, frame)
        except _CloseConnection as close:
            await connection.close(close.code, REASONS[close.code])
        except ConnectionClosed:
            pass  # the peer went away or websockets closed it (1009, ping timeout): nothing to add
        finally:
            if client is not None:
                self._clients.discard(client)
                if client.sender is not None:
                    client.sender.cancel()
                    await asyncio.gather(client.sender, return_exceptions=True)

    def _on_frame(self, client: _Client, frame: str | bytes) -> None:
        try:
            command = parse_command(frame)
        except ProtocolError as error:
            logger.info("feed client %s: protocol error: %s", client.grant.subject, error)
            raise _CloseConnection(FeedClose.PROTOCOL_ERROR) from None
        if isinstance(command, Subscribe):
            try:
                authorize(client.grant, command.subscription)
            except Forbidden as error:
                logger.info("feed client %s: %s", client.grant.subject, error)
                raise _CloseConnection(FeedClose.FORBIDDEN) from None
            client.subscription = command.subscription
            client.subscribed_at_id = int(self._hub.last_id)
            ack = f'{{"type":"subscribed","last_id":"{self._hub.last_id}"}}'
            self._enqueue(client, (None, ack))
        elif isinstance(command, Resume):
            if client.subscription is None:
                raise _CloseConnection(FeedClose.PROTOCOL_ERROR)
            self._resume(client, client.subscription, command.after)
        elif isinstance(command, Ping):
            self._enqueue(client, (None, PONG_FRAME))

    def _resume(self, client: _Client, subscription: Subscription, after: str) -> None:
        missed = self._hub.since(after)
        wanted = None if missed is None else [m for m in missed if subscription.matches(m)]
        # Live messages may already have been sent since `subscribe`; older missed ones sent after them
        # would arrive out of order, so in that (rare) case the client reloads instead.
        out_of_order = wanted is not None and any(
            int(m.id) <= client.subscribed_at_id < client.last_taken_id for m in wanted
        )
        # More missed messages than the queue holds: reloading is cheaper than replaying them.
        if wanted is None or out_of_order or len(wanted) > self._send_queue:
            self._drain(client)
            self._enqueue(client, (None, RESYNC_FRAME))
            return
        # The queued live messages are all in `wanted` too (the hub saw them first), so replace them:
        # the replay is then one ordered run; the sender skips anything it already sent.
        self._drain(client)
        for message in wanted:
            self._enqueue(client, (int(message.id), message.frame))

    @staticmethod
    def _drain(client: _Client) -> None:
        """Drop the queued messages, keeping control frames (a pending "subscribed" or "pong")."""
        pending = [client.queue.get_nowait() for _ in range(client.queue.qsize())]
        for item in pending:
            if item[0] is None:
                client.queue.put_nowait(item)

    def _enqueue(self, client: _Client, item: Outgoing) -> None:
        if client not in self._clients:
            return  # already dropped
        try:
            client.queue.put_nowait(item)
        except asyncio.QueueFull:
            self._drop(client, FeedClose.TOO_SLOW)

    def _drop(self, client: _Client, code: FeedClose) -> None:
        logger.info("feed client %s: closing (%s)", client.grant.subject, REASONS[code])
        self._clients.discard(client)
        if client.sender is not None:
            client.sender.cancel()  # it may be stuck writing to this very client
        task = asyncio.create_task(client.connection.close(code, REASONS[code]))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _send_loop(self, client: _Client) -> None:
        try:
            while True:
                message_id, frame = await client.queue.get()
                if message_id is not None:
                    if message_id <= client.last_taken_id:
                        continue
                    client.last_taken_id = message_id
                client.busy = True
                try:
                    await client.connection.send(frame)
                finally:
                    client.busy = False
        except ConnectionClosed:
            pass
        except Exception:
            # A frame this client cannot be sent must not leave it connected and deaf.
            logger.exception("feed client %s: send failed", client.grant.subject)
            if client in self._clients:
                self._drop(client, FeedClose.INTERNAL_ERROR)
