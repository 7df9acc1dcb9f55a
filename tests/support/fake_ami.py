"""A small but real AMI server on asyncio streams, for client tests.

It speaks just enough of the protocol (banner, Login, Ping, CoreShowChannels, Originate)
and lets a test misbehave on purpose: raw bytes, split writes, silence, drops.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import socket

TEST_SECRET = "s3cret"
BANNER = b"Asterisk Call Manager/9.0.0\r\n"


def encode(fields: dict[str, str]) -> bytes:
    return "".join(f"{k}: {v}\r\n" for k, v in fields.items()).encode() + b"\r\n"


def _decode(raw: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in raw.decode("utf-8", errors="replace").split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep:
            out[key] = value
    return out


class FakeAmi:
    def __init__(self, *, username: str = "kolokol", secret: str = TEST_SECRET) -> None:
        self.username = username
        self.secret = secret
        self.channels: list[dict[str, str]] = []
        self.answer_pings = True
        # Actions answered with nothing at all, to exercise client timeouts.
        self.unanswered_actions: set[str] = set()
        self.actions: list[dict[str, str]] = []
        self.connections = 0
        self.logins = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._reserved: socket.socket | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._handlers: set[asyncio.Task[None]] = set()

    def reserve(self) -> int:
        """Take a port now without listening on it: connections are refused until `start`, and no other
        process can take the port meanwhile."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self._reserved = sock
        self.port = sock.getsockname()[1]
        return self.port

    async def start(self) -> None:
        if self._reserved is not None:
            sock, self._reserved = self._reserved, None
            self._server = await asyncio.start_server(self._serve, sock=sock)
        else:
            self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        await self.drop()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None

    async def restart(self) -> None:
        await self.stop()
        await self.start()

    async def drop(self) -> None:
        """Close every client connection, as a crashed Asterisk would."""
        writers, self._writers = self._writers, []
        for writer in writers:
            writer.close()
        for writer in writers:
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        for task in list(self._handlers):
            task.cancel()
        for task in list(self._handlers):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def push(self, data: bytes, *, split_at: list[int] | None = None) -> None:
        """Write raw bytes to every client, optionally in separate TCP writes."""
        cuts = [0, *(split_at or []), len(data)]
        for start, end in itertools.pairwise(cuts):
            for writer in self._writers:
                writer.write(data[start:end])
                await writer.drain()
            if end != len(data):
                # Give the kernel a chance to deliver the part on its own.
                await asyncio.sleep(0.02)

    async def event(self, fields: dict[str, str]) -> None:
        await self.push(encode(fields))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._writers.append(writer)
        self.connections += 1
        try:
            writer.write(BANNER)
            await writer.drain()
            while True:
                raw = await reader.readuntil(b"\r\n\r\n")
                action = _decode(raw[:-4])
                self.actions.append(action)
                await self._answer(action, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._handlers.discard(task)
            if writer in self._writers:
                self._writers.remove(writer)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _answer(self, action: dict[str, str], writer: asyncio.StreamWriter) -> None:
        name = action.get("Action", "")
        ident = {"ActionID": action.get("ActionID", "")}
        if name in self.unanswered_actions:
            return
        if name == "Login":
            if action.get("Username") == self.username and action.get("Secret") == self.secret:
                self.logins += 1
                reply = encode({"Response": "Success", **ident, "Message": "Authentication accepted"})
            else:
                reply = encode({"Response": "Error", **ident, "Message": "Authentication failed"})
        elif name == "Ping":
            if not self.answer_pings:
                return
            reply = encode({"Response": "Success", **ident, "Ping": "Pong", "Timestamp": "1.0"})
        elif name == "CoreShowChannels":
            reply = encode(
                {"Response": "Success", **ident, "EventList": "start", "Message": "Channels will follow"}
            )
            for channel in self.channels:
                reply += encode({"Event": "CoreShowChannel", **ident, **channel})
            reply += encode(
                {
                    "Event": "CoreShowChannelsComplete",
                    **ident,
                    "EventList": "Complete",
                    "ListItems": str(len(self.channels)),
                }
            )
        elif name == "Originate":
            # Asterisk queues an async Originate at once; its outcome is an OriginateResponse event
            # later, which a test pushes with `event()` when it wants one.
            reply = encode({"Response": "Success", **ident, "Message": "Originate successfully queued"})
        else:
            reply = encode({"Response": "Error", **ident, "Message": "Invalid/unknown command"})
        writer.write(reply)
        await writer.drain()
