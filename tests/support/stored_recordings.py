"""Recordings already processed and stored, for the tests and benches of listening to them.

A call and its recording row are written directly (status ready, the audio in the storage), as the
worker would have left them; the audio is real Ogg Opus made by ffmpeg.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from kolokol.storage.tables import Call, Recording, new_id
from recordings.storage import LocalDiskStorage, RecordingStorage, audio_key

STARTED = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
OPUS = "audio/ogg; codecs=opus"


def make_opus(path: Path, seconds: float, *, channels: int = 1) -> Path:
    """``seconds`` of a tone with a little noise (so the encoder has something to say), as Ogg Opus."""
    source = f"sine=frequency=440:duration={seconds}:sample_rate=8000"
    subprocess.run(
        [
            "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", source,
            "-f", "lavfi", "-i", f"anoisesrc=duration={seconds}:sample_rate=8000:amplitude=0.05",
            "-filter_complex", "amix=inputs=2", "-ac", str(channels),
            "-c:a", "libopus", "-b:a", "24k", str(path),
        ],
        check=True,
    )  # fmt: skip
    return path


@dataclass(frozen=True)
class Stored:
    recording_id: str
    call_id: str
    size: int


async def store_recording(
    sessions: async_sessionmaker[AsyncSession],
    storage: RecordingStorage,
    audio: Path | None,
    *,
    status: str = "ready",
    operator: str | None = "101",
    answered_by: str | None = "101",
    rang: tuple[str, ...] = ("101",),
    caller: str = "+79161234567",
    called: str = "+74951110001",
    started: datetime = STARTED,
    now: datetime = STARTED,
) -> Stored:
    """A call answered on ``operator`` with its recording in ``status``; the audio (a copy of ``audio``)
    is stored when ready."""
    recording_id = new_id()
    call_id = new_id()
    key = audio_key(recording_id, started, ".ogg") if audio is not None else None
    size = 0
    if key is not None and audio is not None:
        copy = storage.incoming(recording_id, ".ogg")
        await asyncio.to_thread(shutil.copyfile, audio, copy)
        size = await storage.put(key, copy)
    ready = status == "ready"
    async with sessions.begin() as session:
        session.add(
            Call(
                id=call_id,
                pbx="asterisk",
                pbx_call_id=f"rec.{call_id}",
                direction="inbound" if caller.startswith("+") else "outbound",
                caller=caller,
                caller_name=None,
                called=called,
                status="answered",
                disposition="caller_hangup",
                operator=operator,
                answered_by=answered_by,
                rang=list(rang),
                started_at=started,
                answered_at=started + timedelta(seconds=5),
                ended_at=started + timedelta(minutes=3),
                recording_file=f"{call_id}.wav",
            )
        )
        await session.flush()
        session.add(
            Recording(
                id=recording_id,
                call_id=call_id,
                origin="asterisk",
                ref={"file": f"{call_id}.wav"},
                status=status,
                stage="done" if status != "pending" else "acquire",
                failure="the file never appeared in 10 minutes" if status == "failed" else None,
                attempts=0,
                next_attempt_at=now,
                audio_key=key if ready else None,
                mime=OPUS if ready else None,
                size_bytes=size if ready else None,
                duration_seconds=5.0 if ready else None,
                channels=1 if ready else None,
                peaks=[10, 50, 100, 50] if ready else None,
                call_started_at=started,
                created_at=now,
                updated_at=now,
                ready_at=now if ready else None,
                purged_at=now if status == "purged" else None,
            )
        )
    return Stored(recording_id, call_id, size)


class WithoutLocalFiles:
    """A local-disk store that hides its files, so audio is served through ``open_range`` as it would
    be from object storage."""

    def __init__(self, inner: LocalDiskStorage) -> None:
        self.inner = inner
        self.ranges_opened = 0

    async def put(self, key: str, src: Path) -> int:
        return await self.inner.put(key, src)

    async def size(self, key: str) -> int | None:
        return await self.inner.size(key)

    def local_path(self, key: str) -> Path | None:
        return None

    def open_range(self, key: str, start: int, end: int) -> AsyncIterator[bytes]:
        self.ranges_opened += 1
        return self.inner.open_range(key, start, end)

    async def delete(self, key: str) -> None:
        await self.inner.delete(key)

    def incoming(self, recording_id: str, suffix: str) -> Path:
        return self.inner.incoming(recording_id, suffix)
