"""The test Asterisk never trips over another one: each harness start takes a loopback network nobody
else uses (not one a foreign AMI listens on, not one another run holds), and what it then talks to is
verified to be its own instance."""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator

import pytest

from tests.support import asterisk_harness as h

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(240)]


@pytest.fixture
def foreign_asterisk_and_another_run() -> Iterator[tuple[int, int]]:
    """A foreign AMI listener on the network this process would try first, and the next one locked as
    another test run holds it."""
    first = 20 + os.getpid() % 230
    taken, locked = first, 20 + (first - 20 + 1) % 230
    listener = socket.socket()
    listener.bind((f"127.{taken}.0.1", h.AMI_PORT))
    listener.listen()
    with open(h.LOCK_DIR / f"kolokol-asterisk-127.{locked}.lock", "wb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            yield taken, locked
        finally:
            listener.close()


def test_a_foreign_asterisk_and_another_run_are_left_alone(
    foreign_asterisk_and_another_run: tuple[int, int],
) -> None:
    if os.environ.get("KOLOKOL_ASTERISK_UNAVAILABLE"):
        pytest.skip(f"REAL ASTERISK UNAVAILABLE: {os.environ['KOLOKOL_ASTERISK_UNAVAILABLE']}")
    taken, locked = foreign_asterisk_and_another_run
    try:
        h.start_asterisk()
    except h.AsteriskUnavailable as exc:
        pytest.skip(f"REAL ASTERISK UNAVAILABLE: {exc}")
    try:
        own = h.current()
        assert own.net not in (taken, locked)
        assert f"127.{own.net}.0.1" == h.AMI_HOST
        with h.AmiClient() as ami:  # logs in with this instance's own random secret
            assert ami.channels() == []
        assert "Asterisk 22" in h.asterisk_cli("core show version")
    finally:
        h.stop_asterisk()
    assert not h.asterisk_running()
