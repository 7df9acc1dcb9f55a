"""``/readyz`` says how recordings stand, and a missing ffmpeg never makes the node unready."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import update

from kolokol.app_keys import SESSIONS
from kolokol.storage.tables import Recording
from tests.support.clock import Clock
from tests.support.logins import start_app
from tests.support.recording_jobs import answered, pipeline
from tests.support.webhooks import ClientMaker


async def test_readiness_names_the_backlog_failures_and_ffmpeg(
    db_url: str, aiohttp_client: ClientMaker, tmp_path: Path
) -> None:
    clock = Clock()
    recordings = {"enabled": False, "storage_dir": str(tmp_path / "recordings")}
    app, client = await start_app(db_url, aiohttp_client, clock, recordings=recordings)
    sessions = app[SESSIONS]
    for n in range(3):
        await pipeline(sessions, clock).record(answered(n, recording_file=f"f{n}.wav", started_at=clock()))
    async with sessions.begin() as session:
        await session.execute(
            update(Recording)
            .where(Recording.ref["file"].as_string() == "f0.wav")
            .values(status="failed", failure="x", updated_at=clock())
        )
    async with client.get("/readyz") as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["recordings"] == {
        "enabled": False,
        "ffmpeg": True,
        "backlog": 2,
        "failed_last_24h": 1,
        "problem": None,
    }
    clock.advance(hours=25)
    async with client.get("/readyz") as resp:
        assert (await resp.json())["recordings"]["failed_last_24h"] == 0


async def test_without_ffmpeg_kolokol_starts_and_says_so(
    db_url: str, aiohttp_client: ClientMaker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    recordings = {"storage_dir": str(tmp_path / "recordings")}
    _app, client = await start_app(db_url, aiohttp_client, Clock(), recordings=recordings)
    async with client.get("/readyz") as resp:
        assert resp.status == 200
        detail = (await resp.json())["recordings"]
    assert detail["enabled"] is True and detail["ffmpeg"] is False
    assert "ffmpeg is not installed" in detail["problem"]
