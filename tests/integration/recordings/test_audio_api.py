"""Listening to a stored recording over real HTTP: Range for seeking, who may, what is not there to hear."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import pytest

from recordings.storage import audio_key
from tests.support.clock import Clock
from tests.support.listening import Listening, start_listening
from tests.support.logins import ClientMaker, add_user, log_in
from tests.support.stored_recordings import STARTED, WithoutLocalFiles, make_opus
from tests.support.waiting import eventually


@pytest.fixture(scope="module")
def opus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_opus(tmp_path_factory.mktemp("audio") / "tone.ogg", 5)


@pytest.fixture(params=["disk", "object-store"])
async def listening(
    request: pytest.FixtureRequest, db_url: str, aiohttp_client: ClientMaker, tmp_path: Path, opus: Path
) -> Listening:
    # "object-store": the same files served through open_range, as from a store without local files.
    local = request.param == "disk"
    return await start_listening(db_url, aiohttp_client, Clock(), opus, tmp_path / "rec", local_files=local)


@pytest.fixture
async def on_disk(db_url: str, aiohttp_client: ClientMaker, tmp_path: Path, opus: Path) -> Listening:
    return await start_listening(db_url, aiohttp_client, Clock(), opus, tmp_path / "rec")


def audio_url(recording_id: str) -> str:
    return f"/api/recordings/{recording_id}/audio"


async def test_the_whole_recording_and_any_part_a_player_seeks_to(listening: Listening) -> None:
    stored = await listening.store()
    audio, size = listening.audio, len(listening.audio)
    assert stored.size == size > 10_000

    whole = await listening.get(audio_url(stored.recording_id))
    assert whole.status == 200 and whole.body == audio
    assert whole.headers["Content-Type"] == "audio/ogg; codecs=opus"
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert whole.headers["Content-Length"] == str(size)
    assert whole.headers["Cache-Control"].startswith("private")
    assert "Content-Disposition" not in whole.headers
    etag = whole.headers["ETag"]

    middle = size // 2
    for asked, first, last in [
        ("bytes=0-", 0, size - 1),  # what a media element asks first
        ("bytes=0-1023", 0, 1023),
        (f"bytes={middle}-{middle + 4999}", middle, middle + 4999),  # a seek into the middle
        (f"bytes={middle}-", middle, size - 1),  # open-ended
        ("bytes=-700", size - 700, size - 1),  # the end (Ogg's duration lives there)
        (f"bytes={size - 10}-{size + 5000}", size - 10, size - 1),  # past the end: up to the end
    ]:
        part = await listening.get(audio_url(stored.recording_id), headers={"Range": asked})
        assert part.status == 206, asked
        assert part.headers["Content-Range"] == f"bytes {first}-{last}/{size}", asked
        assert part.body == audio[first : last + 1], asked
        assert part.headers["ETag"] == etag
    storage = listening.storage
    if isinstance(storage, WithoutLocalFiles):
        assert storage.ranges_opened == 7, "every answer went through open_range"


async def test_ranges_that_cannot_be_served_are_416_with_the_size(listening: Listening) -> None:
    stored = await listening.store()
    size = len(listening.audio)
    for asked in [
        f"bytes={size}-",
        f"bytes={size + 100}-{size + 200}",
        "bytes=500-100",
        "bytes=-0",
        "bytes=x",
    ]:
        answer = await listening.get(audio_url(stored.recording_id), headers={"Range": asked})
        assert answer.status == 416, asked
        assert answer.headers["Content-Range"] == f"bytes */{size}"
    # Several ranges at once get the whole file (documented: no multipart answers).
    several = await listening.get(audio_url(stored.recording_id), headers={"Range": "bytes=0-9,100-109"})
    assert several.status == 200 and several.body == listening.audio


async def test_if_range_gets_a_part_only_of_the_same_version(on_disk: Listening) -> None:
    stored = await on_disk.store()
    url = audio_url(stored.recording_id)
    first = await on_disk.get(url, headers={"Range": "bytes=0-99"})
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    same = await on_disk.get(url, headers={"Range": "bytes=100-199", "If-Range": etag})
    assert (same.status, same.body) == (206, on_disk.audio[100:200])
    by_date = await on_disk.get(url, headers={"Range": "bytes=100-199", "If-Range": modified})
    assert by_date.status == 206
    changed = await on_disk.get(url, headers={"Range": "bytes=100-199", "If-Range": '"another-version"'})
    assert (changed.status, changed.body) == (200, on_disk.audio)


async def test_without_sendfile_the_file_is_copied_in_chunks(
    on_disk: Listening, monkeypatch: pytest.MonkeyPatch
) -> None:
    tried: list[int] = []

    async def no_sendfile(*_args: object, **_kw: object) -> int:
        tried.append(1)
        raise NotImplementedError("this loop has no sendfile")

    monkeypatch.setattr(asyncio.get_running_loop(), "sendfile", no_sendfile)
    stored = await on_disk.store()
    whole = await on_disk.get(audio_url(stored.recording_id))
    assert (whole.status, whole.body) == (200, on_disk.audio)
    part = await on_disk.get(audio_url(stored.recording_id), headers={"Range": "bytes=1000-1999"})
    assert (part.status, part.body) == (206, on_disk.audio[1000:2000])
    assert len(tried) == 2, "both answers went the way without sendfile"


async def test_a_listener_leaving_mid_recording_is_routine(
    on_disk: Listening, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Far more than the sockets' buffers hold, so the server is still sending when the listener leaves.
    big = tmp_path / "long.ogg"
    await asyncio.to_thread(big.write_bytes, os.urandom(48 * 1024 * 1024))
    stored = await on_disk.store(audio=big)
    caplog.set_level(logging.DEBUG, logger="kolokol.recordings")
    headers = {"Authorization": f"Bearer {on_disk.tokens['admin']}"}
    async with on_disk.client.get(audio_url(stored.recording_id), headers=headers) as resp:
        assert resp.status == 200
        await resp.content.readexactly(64 * 1024)
        resp.close()  # drops the connection mid-body
    await eventually(
        lambda: any(r.getMessage() == "listener gone mid-recording" for r in caplog.records),
        "the server noticing the listener left",
    )
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING], "nothing to warn about"
    again = await on_disk.get(audio_url(stored.recording_id), headers={"Range": "bytes=0-99"})
    assert again.status == 206 and len(again.body) == 100


async def test_download_is_an_attachment(on_disk: Listening) -> None:
    stored = await on_disk.store()
    answer = await on_disk.get(audio_url(stored.recording_id) + "?download=1", role="manager")
    assert answer.status == 200 and answer.body == on_disk.audio
    disposition = answer.headers["Content-Disposition"]
    assert disposition == f'attachment; filename="call-20261123-090000-{stored.recording_id}.ogg"'
    bad = await on_disk.get(audio_url(stored.recording_id) + "?download=yes")
    assert bad.status == 400


async def test_head_gives_the_size_without_the_audio(on_disk: Listening) -> None:
    stored = await on_disk.store()
    answer = await on_disk.request("HEAD", audio_url(stored.recording_id))
    assert answer.status == 200 and answer.body == b""
    assert answer.headers["Content-Length"] == str(len(on_disk.audio))


async def test_roles_that_may_not_listen_are_refused(on_disk: Listening) -> None:
    stored = await on_disk.store()
    for role in ("admin", "manager"):
        assert (await on_disk.get(audio_url(stored.recording_id), role=role)).status == 200
    for role in ("marketer", "integration"):
        for path in (audio_url(stored.recording_id), f"/api/recordings/{stored.recording_id}/peaks"):
            answer = await on_disk.get(path, role=role)
            assert answer.status == 403 and b'"error": "forbidden"' in answer.body, (role, path)
    nobody = await on_disk.get(audio_url(stored.recording_id), role=None)
    assert nobody.status == 401


async def test_operators_hear_the_calls_on_their_phones(on_disk: Listening) -> None:
    mine = await on_disk.store(operator="101", answered_by="101", rang=("101", "102"))
    rang_me = await on_disk.store(operator="103", answered_by="103", rang=("102", "103"))
    not_mine = await on_disk.store(operator="200", answered_by="200", rang=("200",))
    dialled_out = await on_disk.store(
        operator=None, answered_by=None, rang=(), caller="102", called="+79031112233"
    )
    await add_user(on_disk.app, "olga", "operator", extensions=("102",))
    await log_in(on_disk.client, "olga")
    for own in (mine, rang_me, dialled_out):
        assert (await on_disk.get(audio_url(own.recording_id), role=None)).status == 200
    refused = await on_disk.get(audio_url(not_mine.recording_id), role=None)
    assert refused.status == 403 and b"your phones" in refused.body
    assert (await on_disk.get(f"/api/recordings/{not_mine.recording_id}/peaks", role=None)).status == 403
    # An operator's API token has no phones: nothing is "own".
    assert (await on_disk.get(audio_url(mine.recording_id), role="operator")).status == 403


@pytest.mark.parametrize(("setting", "hears_others"), [("all", True), ("none", False)])
async def test_operators_listen_all_or_none(
    db_url: str, aiohttp_client: ClientMaker, tmp_path: Path, opus: Path, setting: str, hears_others: bool
) -> None:
    listening = await start_listening(
        db_url, aiohttp_client, Clock(), opus, tmp_path / "rec", recordings={"operators_listen": setting}
    )
    mine = await listening.store(operator="101", answered_by="101", rang=("101",))
    other = await listening.store(operator="200", answered_by="200", rang=("200",))
    await add_user(listening.app, "olga", "operator", extensions=("101",))
    await log_in(listening.client, "olga")
    expected = 200 if hears_others else 403
    assert (await listening.get(audio_url(other.recording_id), role=None)).status == expected
    assert (await listening.get(audio_url(mine.recording_id), role=None)).status == expected


async def test_what_is_not_there_to_hear(on_disk: Listening) -> None:
    pending = await on_disk.store(status="pending", audio=None)
    failed = await on_disk.store(status="failed", audio=None)
    purged = await on_disk.store(status="purged", audio=None)
    answer = await on_disk.get(audio_url(pending.recording_id))
    assert answer.status == 404 and b'"error": "recording-not-ready"' in answer.body
    assert b'"status": "pending"' in answer.body
    answer = await on_disk.get(audio_url(failed.recording_id))
    assert answer.status == 404 and b"never appeared" in answer.body
    answer = await on_disk.get(audio_url(purged.recording_id))
    assert answer.status == 410 and b'"error": "recording-purged"' in answer.body
    assert (await on_disk.get(f"/api/recordings/{purged.recording_id}/peaks")).status == 410
    for unknown in ("0" * 32, "x" * 300):
        answer = await on_disk.get(audio_url(unknown))
        assert answer.status == 404 and b'"error": "no-such-recording"' in answer.body


async def test_a_ready_recording_whose_file_is_gone_is_a_clear_404(listening: Listening) -> None:
    stored = await listening.store()
    await listening.storage.delete(audio_key(stored.recording_id, STARTED, ".ogg"))
    answer = await listening.get(audio_url(stored.recording_id))
    assert answer.status == 404 and b'"error": "recording-missing"' in answer.body


async def test_peaks_for_the_player(on_disk: Listening) -> None:
    stored = await on_disk.store()
    answer = await on_disk.get(f"/api/recordings/{stored.recording_id}/peaks", role="manager")
    assert answer.status == 200
    assert answer.headers["Cache-Control"].startswith("private")
    assert b'"peaks": [10, 50, 100, 50]' in answer.body and b'"duration_seconds": 5.0' in answer.body
