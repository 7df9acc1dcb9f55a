"""Writing many items in one transaction, without letting one bad item fail the others."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


async def each_alone_on_failure(
    items: Sequence[T],
    attempt: Callable[[Sequence[T]], Awaitable[None]],
    give_up: Callable[[T, Exception], Awaitable[None] | None],
) -> None:
    """Run `attempt` on the whole batch (one transaction: the cheap way); if it raises, run it on each item
    alone, so that only the item that cannot be written fails, and `give_up` is told about it."""
    try:
        await attempt(items)
    except Exception as exc:
        if len(items) != 1:
            for item in items:
                await each_alone_on_failure([item], attempt, give_up)
            return
        outcome = give_up(items[0], exc)
        if outcome is not None:
            await outcome
