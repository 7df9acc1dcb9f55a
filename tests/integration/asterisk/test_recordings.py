"""Recordings of real calls through Asterisk 22 (SIPp as trunk and phones, the answering phone playing
G.711 audio): the MixMonitor file is taken from the monitor directory once complete, or uploaded by the
shipped post-command script run by Asterisk itself; kolokol processes it and serves it as audio as long
as the call's talk time."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from kolokol.app import make_app
from kolokol.app_keys import AMI, SESSIONS
from kolokol.auth.tokens import create_token
from kolokol.settings import Settings
from kolokol.storage.tables import Call, Recording
from tests.support import asterisk_harness as h

pytestmark = [pytest.mark.asterisk, pytest.mark.timeout(240)]
WAIT = 90  # seconds: only a bound for a broken run (a call takes ~7 s, the stable wait 1 s)

Client = TestClient[web.Request, web.Application]
ClientMaker = Callable[[web.Application], Awaitable[Client]]


def monitor_dir() -> str:
    """Asterisk's monitor directory as Asterisk names it (inside the chroot)."""
    return h.current().directories()["astspooldir"] + "/monitor"


def on_host(path: str) -> Path:
    return h.chroot_path() / path.lstrip("/")


class Kolokol:
    def __init__(self, app: web.Application, http: Client, token: str) -> None:
        self.app, self.http, self.token = app, http, token

    async def recorded_call(self) -> tuple[Call, Recording]:
        """The call's row and its recording once settled (ready or failed)."""
        async with asyncio.timeout(WAIT):
            while True:
                async with self.app[SESSIONS]() as session:
                    row = (await session.execute(select(Recording, Call).join(Call))).first()
                if row is not None and row[0].status not in ("pending",):
                    return row[1], row[0]
                await asyncio.sleep(0.1)

    async def audio(self, recording_id: str) -> bytes:
        headers = {"Authorization": f"Bearer {self.token}"}
        async with self.http.get(f"/api/recordings/{recording_id}/audio", headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            assert resp.headers["Content-Type"] == "audio/ogg; codecs=opus"
            return await resp.read()


async def start(tmp_path: Path, aiohttp_client: ClientMaker, local_dir: Path) -> Kolokol:
    settings = Settings.model_validate(
        {
            "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'k.sqlite3'}"},
            "feed": {"port": 0},
            "calls": {"settle_seconds": 0.5},
            "pbx": {"asterisk": h.kolokol_ami_settings()},
            "recordings": {
                "storage_dir": str(tmp_path / "recordings"),
                "asterisk_monitor_dir": monitor_dir(),
                "asterisk_local_dir": str(local_dir),
                "asterisk_stable_seconds": 1,
            },
        }
    )
    app = make_app(settings)
    http = await aiohttp_client(app)
    ami = app[AMI]
    assert ami is not None
    async with asyncio.timeout(15):
        while not ami.logged_in:  # noqa: ASYNC110 - the client has no event for it
            await asyncio.sleep(0.05)
    async with app[SESSIONS].begin() as session:
        token = await create_token(session, name="manager", role="admin")
    return Kolokol(app, http, token)


def place_call() -> None:
    with h.AmiClient() as ami:
        h.SCENARIOS["ringall_answered"](ami)


def probe_seconds(audio: bytes, tmp_path: Path) -> float:
    import subprocess

    path = tmp_path / "heard.ogg"
    path.write_bytes(audio)
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip())


def assert_heard_the_call(call: Call, recording: Recording, audio: bytes, tmp_path: Path) -> None:
    assert recording.status == "ready", recording.failure
    assert call.answered_at is not None and call.ended_at is not None
    talk = (call.ended_at - call.answered_at).total_seconds()
    assert talk > 2
    assert recording.duration_seconds == pytest.approx(talk, abs=1.0)
    assert probe_seconds(audio, tmp_path) == pytest.approx(talk, abs=1.0)
    # The phone played speech-like G.711 audio: the waveform is not flat.
    peaks = recording.peaks
    assert isinstance(peaks, list) and peaks and max(peaks) > 20


async def test_a_real_call_is_recorded_taken_from_the_monitor_directory_and_playable(
    asterisk: None, tmp_path: Path, aiohttp_client: ClientMaker
) -> None:
    kolokol = await start(tmp_path, aiohttp_client, on_host(monitor_dir()))
    await asyncio.to_thread(place_call)
    call, recording = await kolokol.recorded_call()
    assert call.recording_file is not None and call.recording_file.startswith(monitor_dir() + "/")
    assert on_host(call.recording_file).is_file(), "MixMonitor wrote the file Asterisk reported"
    assert recording.ref == {"file": call.recording_file}
    audio = await kolokol.audio(recording.id)
    assert_heard_the_call(call, recording, audio, tmp_path)
    assert on_host(call.recording_file).is_file(), "Asterisk's own file is left where it was"


async def test_the_post_command_uploads_the_recording_to_kolokol_on_another_host(
    asterisk: None, tmp_path: Path, aiohttp_client: ClientMaker
) -> None:
    # kolokol cannot see the monitor directory: only the upload brings the file.
    kolokol = await start(tmp_path, aiohttp_client, tmp_path / "not-mounted")
    async with kolokol.app[SESSIONS].begin() as session:
        upload_token = await create_token(session, name="asterisk-upload", role="integration")
    etc = h.current().etc
    script, config, token_file = (
        f"{etc}/kolokol-upload-recording",
        f"{etc}/upload.conf",
        f"{etc}/upload.token",
    )
    on_host(token_file).write_text(upload_token + "\n")
    # Root-owned, readable by Asterisk's group only: what the script demands.
    asterisk_gid = _chroot_gid("asterisk")
    os.chown(on_host(token_file), 0, asterisk_gid)
    on_host(token_file).chmod(0o640)
    server = kolokol.http.server
    on_host(config).write_text(
        f"url = http://{server.host}:{server.port}\ntoken_file = {token_file}\nattempts = 3\n"
    )
    assert shutil.which("curl", path=str(h.chroot_path() / "usr/bin")), "the chroot has curl"
    command = f"/bin/sh {script} -c {config} ^{{MIXMONITOR_FILENAME}}"
    with h.AmiClient() as ami:
        answer = ami.action("Setvar", Variable="KOLOKOL_RECORDING_DONE", Value=command)
    assert answer[0].get("Response") == "Success", answer
    try:
        await asyncio.to_thread(place_call)
        call, recording = await kolokol.recorded_call()
    finally:
        with h.AmiClient() as ami:
            ami.action("Setvar", Variable="KOLOKOL_RECORDING_DONE", Value="")
    audio = await kolokol.audio(recording.id)
    assert_heard_the_call(call, recording, audio, tmp_path)
    assert call.recording_file is not None
    assert on_host(call.recording_file).is_file(), "the upload is a copy: Asterisk's file stays"


def _chroot_gid(group: str) -> int:
    for line in (h.chroot_path() / "etc/group").read_text().splitlines():
        name, _, gid, *_ = line.split(":")
        if name == group:
            return int(gid)
    raise AssertionError(f"no group {group} in the chroot")
