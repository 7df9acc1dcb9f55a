"""What the browser tests drive: kolokol in a thread of its own, and helpers to feed it calls and tasks.

Playwright's sync API owns the test thread (it runs its own event loop there), so the kolokol app runs in a
second thread with its own loop: `Kolokol.run()` hands it a coroutine and waits for the result. The HTTP
port is bound before the app is built, as a clinic's would be; the feed's port is picked by the OS.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import web
from sqlalchemy import select

from kolokol.app import make_app
from kolokol.app_keys import FEED, LIVE, PHONES, SESSIONS, SETTINGS
from kolokol.auth.users import create_user
from kolokol.calls.availability import click_to_call_ready
from kolokol.calls.wiring import make_pipeline
from kolokol.contacts.store import upsert_contact
from kolokol.settings import Settings
from kolokol.storage.tables import CallbackTask
from kolokol.tasks.views import task_json
from pbx.call_record import PbxCallRecord
from pbx.live import LiveCall, LiveChange, LiveKind
from softphone_ws.hub import MessageType
from tests.support.fake_ami import TEST_SECRET, FakeAmi

if TYPE_CHECKING:
    from playwright.sync_api import Page

PASSWORD = "correct horse battery staple"
CLINIC_LINE = "+74951110001"
SCREENSHOTS = Path(os.environ.get("KOLOKOL_SCREENSHOTS", "var/screenshots"))

T = TypeVar("T")


def utc_now() -> datetime:
    return datetime.now(UTC)


_call_numbers = iter(range(1, 1_000_000))


def live_call(
    *,
    state: str = "ringing",
    number: str | None = "+79161234567",
    ringing: tuple[str, ...] = (),
    talking: tuple[str, ...] = (),
    direction: str = "inbound",
    called: str = CLINIC_LINE,
    caller_name: str | None = None,
    queue: str | None = None,
    operator: str | None = None,
    answered_by: str | None = None,
    started_at: datetime | None = None,
    answered_at: datetime | None = None,
    ended_at: datetime | None = None,
    pbx_call_id: str | None = None,
) -> LiveCall:
    """A live call as the assembler reports it; `rang` follows `ringing` and `talking`."""
    started = started_at or utc_now()
    return LiveCall(
        pbx="asterisk",
        pbx_call_id=pbx_call_id or f"1772443815.{next(_call_numbers)}",
        direction=direction,  # type: ignore[arg-type]
        state=state,  # type: ignore[arg-type]
        caller=(number or "anonymous") if direction == "inbound" else (operator or "101"),
        caller_name=caller_name,
        called=called if direction == "inbound" else (number or called),
        number=number,
        ringing=ringing,
        talking=talking,
        rang=tuple(dict.fromkeys((*ringing, *talking))),
        queue=queue,
        operator=operator,
        answered_by=answered_by,
        started_at=started,
        answered_at=answered_at,
        ended_at=ended_at,
    )


def answered(call: LiveCall, by: str, at: datetime | None = None) -> LiveCall:
    moment = at or utc_now()
    return replace(
        call,
        state="talking",
        ringing=(),
        talking=(by,),
        answered_by=by,
        operator=by,
        answered_at=moment,
        rang=tuple(dict.fromkeys((*call.rang, by))),
    )


def ended(call: LiveCall, at: datetime | None = None) -> LiveCall:
    return replace(call, state="ended", ringing=(), talking=(), ended_at=at or utc_now())


@dataclass
class Kolokol:
    """A running kolokol: its app, its loop (in its own thread), its address."""

    app: web.Application
    loop: asyncio.AbstractEventLoop
    base_url: str
    users: dict[str, str] = field(default_factory=dict)

    @property
    def settings(self) -> Settings:
        return self.app[SETTINGS]

    def url(self, path: str) -> str:
        return self.base_url + path

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the server's loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call(self, function: Callable[[], T], timeout: float = 30) -> T:
        """Run a plain function on the server's loop (the feed and the hub are not thread-safe)."""

        async def wrapped() -> T:
            return function()

        return self.run(wrapped(), timeout)

    # -- data ------------------------------------------------------------------------------------------

    def add_user(
        self,
        username: str,
        role: str = "operator",
        *,
        extensions: tuple[str, ...] = (),
        display_name: str | None = None,
        password: str = PASSWORD,
        language: str | None = None,
    ) -> None:
        self.run(
            create_user(
                self.app[SESSIONS],
                username=username,
                role=role,
                password=password,
                now=utc_now(),
                display_name=display_name,
                extensions=extensions,
                language=language,
            )
        )
        self.users[username] = password

    def add_contact(self, external_id: str, name: str, phones: list[str], **fields: str) -> str:
        async def upsert() -> str:
            async with self.app[SESSIONS].begin() as session:
                result = await upsert_contact(
                    session,
                    self.app[PHONES],
                    external_id=external_id,
                    name=name,
                    phones=phones,
                    fields=fields,
                )
                return result.contact.id

        return self.run(upsert())

    def miss(
        self, number: str, *, minutes_ago: float = 0, rang: tuple[str, ...] = ("101", "102")
    ) -> dict[str, Any]:
        """A missed inbound call `minutes_ago`, recorded by the real pipeline: it opens or updates a task."""
        started = utc_now() - timedelta(minutes=minutes_ago)
        record = PbxCallRecord(
            pbx="asterisk",
            pbx_call_id=f"missed.{next(_call_numbers)}",
            direction="inbound",
            caller=number,
            caller_name=None,
            called=CLINIC_LINE,
            status="missed",
            disposition="caller_hangup",
            missed_where="ringing",
            operator=None,
            answered_by=None,
            rang=rang,
            transfers=(),
            started_at=started,
            answered_at=None,
            ended_at=started + timedelta(seconds=20),
        )

        async def record_it() -> dict[str, Any]:
            sessions = self.app[SESSIONS]
            call = await make_pipeline(self.app[SETTINGS], sessions).record(record)
            await self.app[LIVE].drain()
            async with sessions() as session:
                task = await session.scalar(
                    select(CallbackTask).where(CallbackTask.id == call.callback_task_id)
                )
                assert task is not None, "a missed call from an outside number opens a task"
                return task_json(task)

        return self.run(record_it())

    def record(
        self,
        call: LiveCall,
        status: str,
        *,
        by: str | None = None,
        ended_at: datetime | None = None,
    ) -> dict[str, Any] | None:
        """The finished record of a live call (its pbx_call_id), through the real pipeline: a miss opens
        or counts a task, an answer (`by` that extension) closes it. Returns the call's task, if any."""
        end = ended_at or utc_now()
        answered_at = call.answered_at or (end - timedelta(seconds=30) if status == "answered" else None)
        record = PbxCallRecord(
            pbx=call.pbx,
            pbx_call_id=call.pbx_call_id,
            direction=call.direction,
            caller=call.caller,
            caller_name=call.caller_name,
            called=call.called,
            status=status,  # type: ignore[arg-type]
            disposition="answered" if status == "answered" else "caller_hangup",
            missed_where="ringing" if status == "missed" else None,
            operator=by,
            answered_by=by,
            rang=call.rang or ((by,) if by else ()),
            transfers=(),
            started_at=call.started_at,
            answered_at=answered_at,
            ended_at=end,
        )

        async def record_it() -> dict[str, Any] | None:
            sessions = self.app[SESSIONS]
            stored = await make_pipeline(self.app[SETTINGS], sessions).record(record)
            await self.app[LIVE].drain()
            async with sessions() as session:
                task = await session.get(CallbackTask, stored.callback_task_id or "")
                return task_json(task) if task is not None else None

        return self.run(record_it())

    # -- live calls ------------------------------------------------------------------------------------

    def live(self, kind: LiveKind, call: LiveCall) -> None:
        """A call change through the real publisher: the caller card is built from the database."""

        async def publish() -> None:
            self.app[LIVE].calls_changed([LiveChange(kind, call, utc_now())])
            await self.app[LIVE].drain()

        self.run(publish())

    def stop_feed(self) -> None:
        """Stop the feed server (clients see 1001, as on a restart); the message log is kept."""
        self.run(self.app[FEED].stop())

    def start_feed(self) -> None:
        """Start it again, on a new port: clients come back with fresh tokens and resume."""
        self.run(self.app[FEED].start())

    def feed_clients(self) -> int:
        return self.call(lambda: self.app[FEED].clients)

    def publish(
        self,
        type: MessageType,
        payload: dict[str, Any],
        *,
        extensions: tuple[str, ...] = (),
        queues: tuple[str, ...] = (),
        everyone: bool = False,
    ) -> str:
        """A raw feed message (no card building): for what the publisher does not send on its own."""
        return self.call(
            lambda: self.app[FEED].publish(type, utc_now(), extensions, queues, payload, everyone=everyone).id
        )


class ServerThread:
    """kolokol's aiohttp app (with its feed) on a loop in a background thread."""

    def __init__(self, overrides: dict[str, Any], database_url: str) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        port = self._sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        tree: dict[str, Any] = {
            "database": {"url": database_url},
            # No allowed_origins: the console's feed token names the page it was issued to, which is
            # what lets a console at any address work as installed.
            "feed": {"host": "127.0.0.1", "port": 0},
            "http": {"host": "127.0.0.1", "port": port},
        }
        for section, values in overrides.items():
            if isinstance(values, dict) and isinstance(tree.get(section), dict):
                tree[section] = {**tree[section], **values}
            else:
                tree[section] = values
        self.app = make_app(Settings.model_validate(tree))
        self.loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._serve, name="kolokol-test-server", daemon=True)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except BaseException as exc:  # reported to the test thread
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()

    async def _start(self) -> None:
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    def start(self) -> Kolokol:
        self._thread.start()
        if not self._ready.wait(60):
            raise RuntimeError("kolokol did not start within 60 s")
        if self._error is not None:
            raise RuntimeError("kolokol did not start") from self._error
        return Kolokol(self.app, self.loop, self.base_url)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)


class AmiThread:
    """A small AMI server (tests.support.fake_ami) on a loop of its own thread, standing in for Asterisk:
    kolokol logs in to it, so click-to-call is offered; `stop` is Asterisk going away, `start` it coming
    back on the same port."""

    def __init__(self) -> None:
        self.ami = FakeAmi()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fake-ami", daemon=True)
        self._thread.start()
        self.start()

    def _run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def start(self) -> None:
        self._run(self.ami.start())

    def stop(self) -> None:
        self._run(self.ami.stop())

    def originates(self) -> list[dict[str, str]]:
        return [
            dict(a) for a in self.loop_call(lambda: list(self.ami.actions)) if a.get("Action") == "Originate"
        ]

    def loop_call(self, function: Callable[[], T]) -> T:
        async def wrapped() -> T:
            return function()

        return self._run(wrapped())

    def settings(self) -> dict[str, Any]:
        return {"host": "127.0.0.1", "port": self.ami.port, "username": "kolokol", "secret": TEST_SECRET}

    def close(self) -> None:
        self.stop()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()


def logged_in_to_ami(kolokol: Kolokol) -> bool:
    return kolokol.call(lambda: click_to_call_ready(kolokol.app))


def screenshot(page: Page, name: str) -> Path:
    """Save a screenshot under var/screenshots (or $KOLOKOL_SCREENSHOTS) for a person to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), animations="disabled")
    return path


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    """Poll a condition on the server side (the page's conditions: Playwright's own waiting)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)
