"""What kolokol's log says, and what it leaves out."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from kolokol.log_setup import configure_logging


@pytest.fixture
def log_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("websockets").level)
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    configure_logging("INFO", "json")
    yield stream
    root.handlers[:], root.level = saved[0], saved[1]
    logging.getLogger("websockets").setLevel(saved[2])


def test_feed_connections_are_not_logged_one_by_one(log_lines: io.StringIO) -> None:
    # What the websockets library says for every console that connects or leaves.
    logging.getLogger("websockets.server").info("connection open")
    logging.getLogger("websockets.server").info("connection closed")
    logging.getLogger("websockets.server").warning("something went wrong in the feed server")
    logging.getLogger("kolokol.feed").info("feed client anna: closing (login ended)")
    events = [json.loads(line)["event"] for line in log_lines.getvalue().splitlines()]
    assert events == ["something went wrong in the feed server", "feed client anna: closing (login ended)"]


def test_secrets_stay_out_of_the_log(log_lines: io.StringIO) -> None:
    logging.getLogger("kolokol.ami").info("Action: Login Secret: hunter2", extra={"api_key": "k-123"})
    [line] = [json.loads(text) for text in log_lines.getvalue().splitlines()]
    assert "hunter2" not in json.dumps(line) and line["api_key"] == "**********"
