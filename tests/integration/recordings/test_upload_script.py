"""The MixMonitor post-command (asterisk_conf/kolokol-upload-recording, run by /bin/sh with curl) against
a real kolokol: it uploads the file under the name Asterisk gave it, returns at once when Asterisk runs
it (the upload goes on in the background), refuses a token file others can read, does not retry a
refusal, and gives up after its attempts when kolokol cannot be reached."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

import pytest

from recordings.upload_api import UPLOAD_AREA
from tests.support import paths
from tests.support.call_audio import Tone, write_wav
from tests.support.clock import Clock
from tests.support.listening import Listening, start_listening
from tests.support.logins import ClientMaker

SCRIPT = paths.REPO / "asterisk_conf" / "kolokol-upload-recording"
KEY = "2026/12/03/1764752400.7.wav"
WAIT = 30  # seconds: only a bound for a broken run

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="the post-command needs curl")


@pytest.fixture
async def kolokol(db_url: str, aiohttp_client: ClientMaker, tmp_path: Path) -> Listening:
    wav = write_wav(tmp_path / "call.wav", [Tone(1.0)])
    return await start_listening(
        db_url,
        aiohttp_client,
        Clock(),
        wav,
        tmp_path / "rec",
        recordings={"asterisk_monitor_dir": str(tmp_path / "monitor")},
    )


def configure(tmp_path: Path, url: str, token: str, *, mode: int = 0o640, attempts: int = 3) -> Path:
    token_file = tmp_path / "upload.token"
    token_file.write_text(token + "\n")
    token_file.chmod(mode)
    config = tmp_path / "upload.conf"
    config.write_text(f"url = {url}\ntoken_file = {token_file}\nattempts = {attempts}\n")
    return config


def recording(tmp_path: Path) -> Path:
    """Where Asterisk wrote it (its monitor directory); the script is given that absolute name."""
    path = tmp_path / "monitor" / KEY
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_wav(path, [Tone(1.0)])


async def run_script(config: Path, file: Path, *, foreground: bool = True) -> int:
    env = {"PATH": "/usr/bin:/bin", "KOLOKOL_UPLOAD_FOREGROUND": "1" if foreground else ""}
    process = await asyncio.create_subprocess_exec(
        "/bin/sh", str(SCRIPT), "-c", str(config), str(file), env=env
    )
    async with asyncio.timeout(WAIT):
        return await process.wait()


def base_url(kolokol: Listening) -> str:
    server = kolokol.client.server
    return f"http://{server.host}:{server.port}"


async def test_the_file_is_uploaded_under_its_name(kolokol: Listening, tmp_path: Path) -> None:
    file = recording(tmp_path)
    config = configure(tmp_path, base_url(kolokol), kolokol.tokens["integration"])
    assert await run_script(config, file) == 0
    area = kolokol.app[UPLOAD_AREA]
    assert area.path_of(KEY).read_bytes() == file.read_bytes()
    assert [p.name for p in area.root.iterdir()] == [area.path_of(KEY).name]
    assert file.exists(), "the script copies; Asterisk's file stays"


async def test_run_by_asterisk_it_returns_at_once_and_uploads_in_the_background(
    kolokol: Listening, tmp_path: Path
) -> None:
    file = recording(tmp_path)
    config = configure(tmp_path, base_url(kolokol), kolokol.tokens["integration"])
    assert await run_script(config, file, foreground=False) == 0
    area = kolokol.app[UPLOAD_AREA]
    async with asyncio.timeout(WAIT):
        while not area.waiting(KEY):  # noqa: ASYNC110 - a directory: no event to wait on
            await asyncio.sleep(0.05)


async def test_a_token_file_others_can_read_is_refused(kolokol: Listening, tmp_path: Path) -> None:
    config = configure(tmp_path, base_url(kolokol), kolokol.tokens["integration"], mode=0o644)
    assert await run_script(config, recording(tmp_path)) == 2
    assert not kolokol.app[UPLOAD_AREA].root.exists()


async def test_a_refusal_is_not_retried(kolokol: Listening, tmp_path: Path) -> None:
    config = configure(tmp_path, base_url(kolokol), kolokol.tokens["manager"], attempts=5)
    assert await run_script(config, recording(tmp_path)) == 1, "403 for a manager's token: at once"
    assert not kolokol.app[UPLOAD_AREA].root.exists()


async def test_kolokol_out_of_reach_is_given_up_after_the_attempts(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        # Bound, not listening: connections are refused.
        config = configure(tmp_path, f"http://127.0.0.1:{port}", "x" * 40, attempts=1)
        assert await run_script(config, recording(tmp_path)) == 3
