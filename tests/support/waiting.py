"""Waiting for a condition instead of sleeping for a while: fast when things are fast, patient when the
machine is slow, and a clear failure when the condition never comes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

WAIT = 10  # seconds: only a bound for a broken run, never a timing assertion


async def eventually(condition: Callable[[], object], what: str, *, within: float = WAIT) -> None:
    """Return as soon as ``condition()`` is truthy; fail naming ``what`` after ``within`` seconds."""
    try:
        async with asyncio.timeout(within):
            while not condition():  # noqa: ASYNC110 - the state polled has no event to wait on
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"still waiting after {within} s: {what}") from None
