"""Waiting for a condition instead of sleeping for a while: fast when things are fast, patient when the
machine is slow, and a clear failure when the condition never comes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

WAIT = 10  # seconds: only a bound for a broken run, never a timing assertion


async def eventually(condition: Callable[[], object], what: str, *, within: float = WAIT) -> None:
    """Return as soon as ``condition()`` is truthy; fail naming ``what`` after ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            while not condition():  # noqa: ASYNC110 - the state polled has no event to wait on
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"still waiting after {within} s: {what}") from None


def wait_until(condition: Callable[[], T | bool | None], what: str, *, within: float = WAIT) -> T:
    """The blocking twin of `eventually`, for tests that drive a process: ``condition()``'s first truthy
    value; fail naming ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {within} s: {what}")
        time.sleep(0.02)
    return value  # type: ignore[return-value]
