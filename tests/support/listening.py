"""An app serving stored recordings over real HTTP, with a token per role and a clock the test moves."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web
from multidict import CIMultiDictProxy

from kolokol.app_keys import RECORDING_STORAGE, SESSIONS
from kolokol.auth.roles import ROLES
from kolokol.auth.tokens import create_token
from recordings.storage import LocalDiskStorage, RecordingStorage
from tests.support.clock import Clock
from tests.support.logins import Client, ClientMaker, start_app
from tests.support.stored_recordings import Stored, WithoutLocalFiles, store_recording


@dataclass(frozen=True)
class Answer:
    status: int
    headers: CIMultiDictProxy[str]
    body: bytes


@dataclass
class Listening:
    app: web.Application
    client: Client
    clock: Clock
    tokens: dict[str, str]
    audio: bytes
    audio_path: Path

    @property
    def storage(self) -> RecordingStorage:
        return self.app[RECORDING_STORAGE]

    async def store(self, **kw: Any) -> Stored:
        audio = kw.pop("audio", self.audio_path)
        return await store_recording(self.app[SESSIONS], self.storage, audio, now=self.clock(), **kw)

    async def get(self, path: str, role: str | None = "admin", **kw: Any) -> Answer:
        return await self.request("GET", path, role, **kw)

    async def request(self, method: str, path: str, role: str | None = "admin", **kw: Any) -> Answer:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        headers.update(kw.pop("headers", {}))
        async with self.client.request(method, path, headers=headers, **kw) as resp:
            return Answer(resp.status, resp.headers, await resp.read())


async def start_listening(
    db_url: str,
    aiohttp_client: ClientMaker,
    clock: Clock,
    audio_path: Path,
    storage_dir: Path,
    *,
    local_files: bool = True,
    **sections: dict[str, Any],
) -> Listening:
    """The whole app (the worker off: nothing to process), its recordings under ``storage_dir``; with
    ``local_files=False`` the store hides its files so audio goes through ``open_range``."""
    recordings = {"enabled": False, "storage_dir": str(storage_dir), **sections.pop("recordings", {})}

    def hide_files(app: web.Application) -> None:
        if not local_files:
            app[RECORDING_STORAGE] = WithoutLocalFiles(LocalDiskStorage(storage_dir))

    app, client = await start_app(
        db_url, aiohttp_client, clock, setup=hide_files, recordings=recordings, **sections
    )
    tokens = {}
    async with app[SESSIONS].begin() as session:
        for role in ROLES:
            tokens[role] = await create_token(session, name=f"{role}-token", role=role)
    audio = await asyncio.to_thread(audio_path.read_bytes)
    return Listening(app, client, clock, tokens, audio, audio_path)
