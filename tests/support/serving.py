"""A real ``kolokol serve`` process for the CLI's tests: ports picked by the system, the address read
from what it says once it is up, stopped with SIGTERM as a service manager would."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.waiting import wait_until

_UP = re.compile(r"kolokol is up: open (http://\S+) ")


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    stderr: Path
    url: str = ""  # "http://127.0.0.1:<port>/"

    def said(self) -> str:
        return self.stderr.read_text(errors="replace")


@contextmanager
def serving(cwd: Path, env: dict[str, str], *args: str) -> Iterator[Served]:
    """``kolokol serve`` on ports the system picks, up and listening; SIGTERM at the end (its exit
    status is then in ``served.proc.returncode``)."""
    stderr_file = cwd / f"serve-{len(list(cwd.glob('serve-*.stderr')))}.stderr"
    with stderr_file.open("wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kolokol", "serve", *args],
            env={**env, "KOLOKOL_HTTP__PORT": "0", "KOLOKOL_FEED__PORT": "0"},
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    served = Served(proc, stderr_file)
    try:

        def up() -> str | None:
            text = served.said()
            assert proc.poll() is None, f"kolokol serve exited: {text}"
            found = _UP.search(text)
            # The whole greeting: it is printed at once, its last line ends it.
            return found.group(1) if found and text.endswith("\n") else None

        served.url = wait_until(up, "kolokol serve saying it is up", within=60)
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
