"""A real ``kolokol serve`` process, as a clinic runs it, for tests that stop, kill and start it again.

Its own configuration file and database; its HTTP and feed ports are picked by the OS (``port = 0``) and
read from the process's listening sockets; a manager's API token made with the CLI; the operator feed read
by a thread, as a console would. Every wait is for a condition, with a deadline only for a broken run.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import psutil
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.support.environment import kolokol_environment
from tests.support.paths import REPO

T = TypeVar("T")
DEADLINE = 60.0  # seconds: only a bound for a broken run, never a timing assertion

Json = dict[str, Any]


def wait_for(
    check: Callable[[], T | None],
    what: str,
    timeout: float = DEADLINE,
    explain: Callable[[], str] | None = None,
    every: float = 0.05,
) -> T:
    """Poll until `check` returns something truthy; fail after `timeout` seconds naming what it waited for
    (and what `explain` says of the state it gave up in)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}" + (f":\n{explain()}" if explain else ""))
        time.sleep(every)


class Kolokol:
    def __init__(self, workdir: Path, config: str) -> None:
        self.workdir = workdir
        self.config = workdir / "kolokol.toml"
        self.config.write_text(f"[http]\nport = 0\n\n[feed]\nport = 0\n\n{config}", encoding="utf-8")
        self.log = workdir / "kolokol.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.base = ""
        self.cli("migrate")
        self.token = self.cli("token", "create", "--role", "manager", "--name", "Restart test").strip()

    def _env(self) -> dict[str, str]:
        return kolokol_environment(self.workdir)

    def cli(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "kolokol", *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=self._env(),
            cwd=REPO,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    # -- the process ----------------------------------------------------------------------------------

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "kolokol", "serve", "--config", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self._env(),
                cwd=REPO,
            )
        self.base = wait_for(self._serving, "kolokol serve to answer /healthz")

    def _serving(self) -> str | None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"kolokol serve exited with {self.proc.returncode}:\n{self.log_tail()}")
        try:
            ports = [
                c.laddr.port
                for c in psutil.Process(self.proc.pid).net_connections(kind="tcp")
                if c.status == psutil.CONN_LISTEN
            ]
        except psutil.Error:
            return None
        for port in ports:
            base = f"http://127.0.0.1:{port}"
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=5) as resp:  # noqa: S310 - loopback
                    if json.loads(resp.read()) == {"status": "ok"}:
                        return base
            except (OSError, ValueError):
                continue  # the feed's port, or not listening yet
        return None

    def terminate(self) -> int:
        """SIGTERM, as systemd stops a service for an upgrade; returns the exit status."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(DEADLINE)

    def kill(self) -> None:
        """SIGKILL: the process dies on the spot (a crash, the OOM killer)."""
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(DEADLINE)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    # -- HTTP -------------------------------------------------------------------------------------------

    def api(self, method: str, path: str, body: Json | None = None) -> tuple[int, Json]:
        request = urllib.request.Request(  # noqa: S310 - loopback test server
            self.base + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - loopback test server
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def get(self, path: str) -> Json:
        status, body = self.api("GET", path)
        assert status == 200, (path, status, body)
        return body

    def post(self, path: str, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> int:
        """A PBX's webhook: raw body, no token."""
        request = urllib.request.Request(  # noqa: S310 - loopback test server
            self.base + path,
            method="POST",
            data=body,
            headers={"Content-Type": content_type, **(headers or {})},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as resp:  # noqa: S310 - loopback test server
                return int(resp.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def add_contact(self, external_id: str, name: str, phone: str) -> None:
        status, body = self.api("PUT", f"/api/contacts/{external_id}", {"name": name, "phones": [phone]})
        assert status in (200, 201), body

    def live_calls(self) -> dict[str, Json]:
        """/api/live's calls by their pbx_call_id, each with its card."""
        return {entry["call"]["pbx_call_id"]: entry for entry in self.get("/api/live")["calls"]}

    def records(self) -> dict[str, Json]:
        return {call["pbx_call_id"]: call for call in self.get("/api/calls?limit=500")["items"]}

    def feed(self) -> Feed:
        status, body = self.api("POST", "/api/feed/token", {})
        assert status == 200, body
        return Feed(body["url"])


class Feed:
    """An operator feed connection subscribed to every call, read by a thread as messages come."""

    def __init__(self, url: str) -> None:
        self.messages: list[Json] = []
        self.closed_with: int | None = None
        self.last_id = ""
        self._ws: ClientConnection | None = None
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(url,), name="feed-reader", daemon=True)
        self._thread.start()
        assert self._subscribed.wait(DEADLINE), f"the feed did not subscribe (closed with {self.closed_with})"

    def _run(self, url: str) -> None:
        try:
            with connect(url, open_timeout=DEADLINE) as ws:
                self._ws = ws
                ws.send(json.dumps({"type": "subscribe", "all": True}))
                reply = json.loads(ws.recv(timeout=DEADLINE))
                assert reply["type"] == "subscribed", reply
                self.last_id = reply["last_id"]
                self._subscribed.set()
                for frame in ws:
                    message = json.loads(frame)
                    with self._lock:
                        self.messages.append(message)
                        if "id" in message:
                            self.last_id = message["id"]
        except ConnectionClosed:
            pass
        finally:
            code = self._ws.close_code if self._ws is not None else None
            with self._lock:
                self.closed_with = code if code is not None else 1006

    def send(self, command: Json) -> None:
        assert self._ws is not None
        self._ws.send(json.dumps(command))

    def about(self, pbx_call_id: str) -> list[Json]:
        with self._lock:
            return [m for m in self.messages if m.get("call", {}).get("pbx_call_id") == pbx_call_id]

    def wait(self, what: str, check: Callable[[list[Json]], T | None]) -> T:
        def now() -> T | None:
            with self._lock:
                return check(list(self.messages))

        return wait_for(now, what)

    def wait_closed(self) -> int:
        self._thread.join(DEADLINE)
        assert self.closed_with is not None, "the feed connection is still open"
        return self.closed_with

    def close(self) -> None:
        if self._ws is not None:
            self._ws.close()
        self._thread.join(DEADLINE)
