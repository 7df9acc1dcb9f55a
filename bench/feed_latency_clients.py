"""The clients: one process holding every websocket client, and the bench's handle on it.

The process runs as ``feed_latency.py _clients PORT COUNT MODE`` (the entry point hands it to
`client_main`) with the token secret in its environment. It speaks JSON lines: stdout says "ready";
stdin takes "count", "report PATH" and "quit".
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from feed_latency_common import EXTENSION, BrokenRun

from softphone_ws.feed_tokens import issue

ENTRY = Path(__file__).with_name("feed_latency.py")
SUBSCRIBE = json.dumps({"type": "subscribe", "extensions": [EXTENSION]})


class _Recorder:
    """Everything the clients saw, kept as cheaply as possible: a time, then a few byte searches."""

    def __init__(self, clients: int) -> None:
        self.clients = clients
        self.acks: dict[int, asyncio.Future[None]] = {}
        self.reset()

    def reset(self) -> None:
        self.ringing: dict[bytes, list[int]] = {}
        self.per_client = [0] * self.clients
        self.frames: Counter[bytes] = Counter()
        self.closed: list[tuple[int, int | None, str, int]] = []
        # How late this process's loop woke up against a 10 ms timer: a stall here delays timestamps of
        # frames that had already arrived, so it is this process's share of a latency, not the server's.
        self.stall_max_ms = 0.0
        self.stalls_over_20ms = 0

    def frame(self, index: int, received: int, data: bytes | bytearray | memoryview) -> None:
        # No JSON parsing: the hub writes "type" second (after a numeric "id") and the call object before
        # the card, so the first occurrences of both keys are the ones wanted.
        raw = bytes(data)
        start = raw.find(b'"type":"', 0, 80)
        if start < 0:
            self.frames[b"?"] += 1
            return
        start += 8
        kind = raw[start : raw.find(b'"', start)]
        self.frames[kind] += 1
        if kind == b"call.ringing":
            at = raw.find(b'"pbx_call_id":"', start)
            if at >= 0:
                at += 15
                self.ringing.setdefault(raw[at : raw.find(b'"', at)], []).append(received)
                self.per_client[index] += 1
        elif kind == b"subscribed":
            ack = self.acks.get(index)
            if ack is not None and not ack.done():
                ack.set_result(None)

    async def watch_loop(self) -> None:
        while True:
            due = time.monotonic() + 0.01
            await asyncio.sleep(0.01)
            late = 1000 * (time.monotonic() - due)
            self.stall_max_ms = max(self.stall_max_ms, late)
            self.stalls_over_20ms += late > 20


def client_main(port: int, count: int, mode: str) -> int:
    return asyncio.run(_clients(port, count, mode, os.environ["FEED_BENCH_SECRET"].encode()))


async def _clients(port: int, count: int, mode: str, secret: bytes) -> int:
    from websockets.asyncio.client import ClientConnection, connect
    from websockets.exceptions import ConnectionClosed
    from websockets.frames import Frame, Opcode
    from websockets.protocol import Event

    recorder = _Recorder(count)

    class TimedConnection(ClientConnection):
        """Takes text frames the moment the protocol parses them out of a read, before any coroutine runs.

        Overrides ``process_event``, websockets' per-frame hook (stable in 13-17): the ordinary recv()
        path adds the time to wake one coroutine per frame, which at 1,000 clients in one process is this
        process's queueing, not the server's latency. (Measured with --client-mode recv on this 2-core
        machine the two hardly differ; the hook keeps it out by construction.)
        """

        index = -1

        def process_event(self, event: Event) -> None:
            if (
                self.response is not None
                and isinstance(event, Frame)
                and event.opcode is Opcode.TEXT
                and event.fin
            ):
                recorder.frame(self.index, time.time_ns(), event.data)
                return
            super().process_event(event)

    connections: list[ClientConnection] = []
    watchers: list[asyncio.Task[None]] = []
    quitting = False
    gate = asyncio.Semaphore(50)  # handshakes in flight: below the server's listen backlog

    async def watch(index: int, ws: ClientConnection) -> None:
        if mode == "recv":
            try:
                while True:
                    data = await ws.recv(decode=False)
                    recorder.frame(index, time.time_ns(), data)
            except ConnectionClosed:
                pass
        await ws.wait_closed()
        if not quitting:
            recorder.closed.append((index, ws.close_code, ws.close_reason or "", time.time_ns()))

    async def open_one(index: int) -> None:
        token = issue(
            secret,
            subject=f"bench-{index}",
            role="operator",
            extensions=(EXTENSION,),
            now=datetime.now(UTC),
            ttl_seconds=600,
        )
        async with gate:
            ws = await connect(
                f"ws://127.0.0.1:{port}/feed?token={token}",
                create_connection=TimedConnection if mode == "hook" else ClientConnection,
                compression=None,  # the server offers none; not even asking keeps the handshake minimal
                proxy=None,  # loopback only, whatever the environment says
                ping_interval=None,  # the server pings; client pings would be load the clinic does not make
                open_timeout=60,
                close_timeout=5,
                max_queue=4096,  # recv mode: never stall the server because this process reads late
            )
            if isinstance(ws, TimedConnection):
                ws.index = index
            connections.append(ws)
            recorder.acks[index] = asyncio.get_running_loop().create_future()
            watchers.append(asyncio.create_task(watch(index, ws)))
            await ws.send(SUBSCRIBE)
            await asyncio.wait_for(recorder.acks[index], 30)

    results = await asyncio.gather(*(open_one(i) for i in range(count)), return_exceptions=True)
    failures = Counter(type(r).__name__ for r in results if isinstance(r, BaseException))
    recorder.reset()  # the "subscribed" acks are not part of any phase
    # What exists now lives until the end: keep the collector from walking it again and again (a full
    # collection over 1,000 connections' objects would show up as a stall in the timestamps).
    gc.collect()
    gc.freeze()
    monitor = asyncio.create_task(recorder.watch_loop())
    print(json.dumps({"ready": count - sum(failures.values()), "failures": dict(failures)}), flush=True)

    loop = asyncio.get_running_loop()
    commands = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(commands), sys.stdin)
    while line := (await commands.readline()).decode().strip():
        verb, _, argument = line.partition(" ")
        if verb == "count":
            reply: dict[str, Any] = {
                "ringing": sum(recorder.per_client),
                "frames": sum(recorder.frames.values()),
            }
        elif verb == "report":
            await asyncio.to_thread(
                Path(argument).write_text,
                json.dumps(
                    {
                        "ringing": {k.decode(): v for k, v in recorder.ringing.items()},
                        "per_client": recorder.per_client,
                        "frames": {k.decode(): v for k, v in recorder.frames.items()},
                        "closed": recorder.closed,
                        "stall_max_ms": recorder.stall_max_ms,
                        "stalls_over_20ms": recorder.stalls_over_20ms,
                    }
                ),
            )
            recorder.reset()
            reply = {"ok": True}
        else:
            break
        print(json.dumps(reply), flush=True)
    quitting = True
    monitor.cancel()
    await asyncio.gather(*(ws.close() for ws in connections), return_exceptions=True)
    for task in watchers:
        task.cancel()
    await asyncio.gather(*watchers, return_exceptions=True)
    return 0


class ClientFleet:
    """The bench's handle on the client process."""

    def __init__(self, process: asyncio.subprocess.Process, count: int) -> None:
        self.process = process
        self.count = count
        self.cpu = psutil.Process(process.pid)

    @classmethod
    async def start(cls, feed_port: int, count: int, mode: str, secret: str, log_path: Path) -> ClientFleet:
        env = {**os.environ, "FEED_BENCH_SECRET": secret}
        with log_path.open("ab") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(ENTRY),
                "_clients",
                str(feed_port),
                str(count),
                mode,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                env=env,
                limit=2**20,
            )
        fleet = cls(process, count)
        try:
            hello = await fleet._reply(within=60 + count / 10)
        except BaseException:
            await fleet.stop()
            raise
        if hello["ready"] != count:
            await fleet.stop()
            raise BrokenRun(
                f"only {hello['ready']} of {count} clients connected and subscribed: {hello['failures']}"
            )
        return fleet

    async def _reply(self, within: float) -> dict[str, Any]:
        assert self.process.stdout is not None
        try:
            line = await asyncio.wait_for(self.process.stdout.readline(), within)
        except TimeoutError:
            raise BrokenRun(f"the client process did not answer within {within:.0f} s") from None
        if not line:
            raise BrokenRun(f"the client process died (status {await self.process.wait()})")
        reply: dict[str, Any] = json.loads(line)
        return reply

    async def ask(self, command: str, within: float = 30.0) -> dict[str, Any]:
        assert self.process.stdin is not None
        if self.process.returncode is not None:
            raise BrokenRun(f"the client process died (status {self.process.returncode})")
        self.process.stdin.write(command.encode() + b"\n")
        await self.process.stdin.drain()
        return await self._reply(within)

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(OSError, RuntimeError):
                assert self.process.stdin is not None
                self.process.stdin.write(b"quit\n")
                await self.process.stdin.drain()
            try:
                await asyncio.wait_for(self.process.wait(), 20)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
