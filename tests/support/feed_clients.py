"""A console's side of the live feed in tests: receive a message, or everything sent so far.

"Everything sent so far" is asked with a ping: the server answers it through the client's own queue,
behind every frame published before it, so the pong marks the end of what there was to receive. No
quiet period stands in for "nothing more is coming".
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from websockets.asyncio.client import ClientConnection

WAIT = 10  # seconds: only a bound for a broken run, never a timing assertion


async def receive(client: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(WAIT):
        message: dict[str, Any] = json.loads(await client.recv())
    return message


async def everything_so_far(client: ClientConnection) -> list[dict[str, Any]]:
    """Every message published to this client before the call, in order (the pong left out).

    Publish first (e.g. ``await app[LIVE].drain()``): a message still on its way to the hub is not
    "so far".
    """
    await client.send(json.dumps({"type": "ping"}))
    messages = []
    while (message := await receive(client))["type"] != "pong":
        messages.append(message)
    return messages
