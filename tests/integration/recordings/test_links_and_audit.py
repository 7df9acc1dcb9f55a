"""Signed links for the CRM and the audit of who listened, over real HTTP."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker

from kolokol.app import make_app
from kolokol.app_keys import CLOCK, SESSIONS
from kolokol.settings import Settings
from kolokol.storage.engine import make_engine
from recordings.shared_secret import shared_secret
from tests.support.clock import T0, Clock
from tests.support.listening import Listening, start_listening
from tests.support.logins import ClientMaker, add_user, log_in
from tests.support.stored_recordings import make_opus


@pytest.fixture(scope="module")
def opus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_opus(tmp_path_factory.mktemp("audio") / "tone.ogg", 5)


@pytest.fixture
async def listening(db_url: str, aiohttp_client: ClientMaker, tmp_path: Path, opus: Path) -> Listening:
    return await start_listening(db_url, aiohttp_client, Clock(), opus, tmp_path / "rec")


async def make_link(listening: Listening, recording_id: str, role: str = "integration", **body: Any) -> Any:
    kw: dict[str, Any] = {"json": body} if body else {}
    answer = await listening.request("POST", f"/api/recordings/{recording_id}/link", role, **kw)
    return answer.status, json.loads(answer.body)


async def access_log(listening: Listening, **params: str) -> Any:
    answer = await listening.get("/api/recordings/access", params=params)
    assert answer.status == 200, answer.body
    return json.loads(answer.body)


async def test_a_link_plays_without_a_login_until_it_expires(listening: Listening) -> None:
    stored = await listening.store()
    status, link = await make_link(listening, stored.recording_id, ttl_seconds=600)
    assert status == 201
    assert link["expires_at"] == "2026-11-30T08:10:00.000Z"
    assert link["url"].startswith(f"/r/{stored.recording_id}/")
    whole = await listening.get(link["url"], role=None)
    assert (whole.status, whole.body) == (200, listening.audio)
    part = await listening.get(link["url"], role=None, headers={"Range": "bytes=100-199"})
    assert (part.status, part.body) == (206, listening.audio[100:200])
    download = await listening.get(link["url"] + "?download=1", role=None)
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert (await listening.get(link["url"] + "?download=please", role=None)).status == 400
    listening.clock.advance(seconds=600)
    expired = await listening.get(link["url"], role=None)
    assert expired.status == 403 and json.loads(expired.body)["error"] == "link-expired"


async def test_forged_and_altered_links_are_refused(listening: Listening) -> None:
    stored = await listening.store()
    other = await listening.store(operator="200")
    _, link = await make_link(listening, stored.recording_id)
    _, rid, expires, signature = link["url"].rsplit("/", 3)
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    for forged in [
        f"/r/{rid}/{expires}/{flipped}",
        f"/r/{other.recording_id}/{expires}/{signature}",  # another recording
        f"/r/{rid}/{int(expires) + 86400}/{signature}",  # a longer life
        f"/r/{rid}/{expires}/{'x' * 43}",
        f"/r/{rid}/soon/{signature}",
    ]:
        answer = await listening.get(forged, role=None)
        assert answer.status == 403 and json.loads(answer.body)["error"] == "link-invalid", forged
    # Forged and past its claimed expiry: still "invalid", never "expired" (that would confirm a guess).
    listening.clock.advance(days=30)
    answer = await listening.get(f"/r/{rid}/{expires}/{flipped}", role=None)
    assert json.loads(answer.body)["error"] == "link-invalid"


async def test_who_may_make_links_and_for_how_long(
    db_url: str, aiohttp_client: ClientMaker, tmp_path: Path, opus: Path
) -> None:
    listening = await start_listening(
        db_url,
        aiohttp_client,
        Clock(),
        opus,
        tmp_path / "rec",
        http={"public_url": "https://kk.clinic.example/"},
        recordings={"link_ttl_seconds": 120},
    )
    stored = await listening.store()
    for role in ("admin", "manager", "integration"):
        status, link = await make_link(listening, stored.recording_id, role)
        assert status == 201 and link["url"].startswith(f"https://kk.clinic.example/r/{stored.recording_id}/")
        assert link["expires_at"] == "2026-11-30T08:02:00.000Z", "the configured default"
    for role in ("marketer", "operator"):
        status, body = await make_link(listening, stored.recording_id, role)
        assert (status, body["error"]) == (403, "forbidden")
    _, capped = await make_link(listening, stored.recording_id, ttl_seconds=30 * 24 * 3600)
    assert capped["expires_at"] == "2026-12-07T08:00:00.000Z", "at most a week"
    for bad in (0, -5, "600", 1.5, True):
        status, body = await make_link(listening, stored.recording_id, ttl_seconds=bad)
        assert (status, body["error"]) == (400, "invalid-field"), bad
    pending = await listening.store(status="pending", audio=None)
    assert (await make_link(listening, pending.recording_id))[0] == 201, "linked now, playable once ready"
    purged = await listening.store(status="purged", audio=None)
    assert (await make_link(listening, purged.recording_id))[0] == 410
    assert (await make_link(listening, "0" * 32))[0] == 404


async def test_every_playback_is_audited_once_and_seeking_does_not_flood(listening: Listening) -> None:
    stored = await listening.store()
    url = f"/api/recordings/{stored.recording_id}/audio"
    ua = {"User-Agent": "Chromium test"}
    # A browser playing: from the start, then its seeks.
    await listening.get(url, role="manager", headers={"Range": "bytes=0-", **ua})
    for start in (9000, 3000, 12000):
        await listening.get(url, role="manager", headers={"Range": f"bytes={start}-", **ua})
    await listening.request("HEAD", url, role="manager")
    await listening.get(url, role="manager", headers={"Range": "bytes=999999-"})  # 416: nothing heard
    log = await access_log(listening)
    assert log["total"] == 1
    [row] = log["items"]
    assert row["who"] == "manager-token" and row["role"] == "manager" and row["via"] == "token"
    assert row["action"] == "play" and row["range"] == "bytes=0-" and row["user_agent"] == "Chromium test"
    assert row["address"] == "127.0.0.1" and row["call_id"] == stored.call_id
    assert row["at"] == "2026-11-30T08:00:00.000Z"

    # Playing again from the start is another playback; so is a seek after a quiet while.
    listening.clock.advance(minutes=1)
    await listening.get(url, role="manager")
    listening.clock.advance(minutes=11)
    await listening.get(url, role="manager", headers={"Range": "bytes=5000-"})
    listening.clock.advance(minutes=1)
    await listening.get(url, role="manager", headers={"Range": "bytes=6000-"})
    # Someone else seeking at once is their own playback.
    await listening.get(url, role="admin", headers={"Range": "bytes=6000-"})
    log = await access_log(listening)
    assert [(r["who"], r["range"]) for r in log["items"]] == [
        ("admin-token", "bytes=6000-"),
        ("manager-token", "bytes=5000-"),
        ("manager-token", None),
        ("manager-token", "bytes=0-"),
    ], "newest first"


async def test_links_downloads_and_sessions_are_audited_with_who(listening: Listening) -> None:
    stored = await listening.store(operator="101", answered_by="101", rang=("101",))
    _, link = await make_link(listening, stored.recording_id)
    await listening.get(link["url"], role=None)
    listening.clock.advance(seconds=1)
    await listening.get(f"/api/recordings/{stored.recording_id}/audio?download=1", role="admin")
    listening.clock.advance(seconds=1)
    await add_user(listening.app, "olga", "operator", extensions=("101",))
    await log_in(listening.client, "olga")
    await listening.get(f"/api/recordings/{stored.recording_id}/audio", role=None)
    log = await access_log(listening)
    assert [(r["who"], r["via"], r["action"]) for r in log["items"]] == [
        ("olga", "session", "play"),
        ("admin-token", "token", "download"),
        ("link", "link", "play"),
        ("integration-token", "token", "link"),  # who shared it
    ]


async def test_only_admins_read_the_audit_with_filters_and_paging(listening: Listening) -> None:
    first = await listening.store()
    second = await listening.store()
    for stored in (first, second, first):
        listening.clock.advance(minutes=1)
        await listening.get(f"/api/recordings/{stored.recording_id}/audio", role="manager")
    listening.clock.advance(minutes=1)
    await listening.get(f"/api/recordings/{second.recording_id}/audio", role="admin")
    for role in ("manager", "operator", "marketer", "integration"):
        answer = await listening.get("/api/recordings/access", role=role)
        assert answer.status == 403, role
    assert (await access_log(listening))["total"] == 4
    by_call = await access_log(listening, call=first.call_id)
    assert by_call["total"] == 2 and {r["recording_id"] for r in by_call["items"]} == {first.recording_id}
    assert (await access_log(listening, who="admin-token"))["total"] == 1
    assert (await access_log(listening, recording=second.recording_id))["total"] == 2
    window = await access_log(listening, **{"from": "2026-11-30T08:02:00Z", "to": "2026-11-30T08:04:00Z"})
    assert [r["at"] for r in window["items"]] == ["2026-11-30T08:03:00.000Z", "2026-11-30T08:02:00.000Z"]
    page = await access_log(listening, limit="1", offset="1")
    assert page["total"] == 4 and [r["at"] for r in page["items"]] == ["2026-11-30T08:03:00.000Z"]
    bad = await listening.get("/api/recordings/access", params={"from": "last week"})
    assert bad.status == 400


async def test_every_node_signs_with_the_same_generated_key(db_url: str, listening: Listening) -> None:
    # Nodes starting at once each make a key; one is kept, and all of them use that one.
    engines = [make_engine(db_url) for _ in range(3)]
    try:
        makers = [async_sessionmaker(engine, expire_on_commit=False) for engine in engines]
        keys = await asyncio.gather(*(shared_secret(m, "test_key", now=T0) for m in makers))
        assert len(set(keys)) == 1 and len(keys[0]) >= 43
        assert await shared_secret(listening.app[SESSIONS], "test_key", now=T0) == keys[0]
    finally:
        for engine in engines:
            await engine.dispose()


async def test_a_link_made_on_one_node_plays_on_another_unless_their_keys_differ(
    db_url: str, aiohttp_client: ClientMaker, tmp_path: Path, opus: Path
) -> None:
    first = await start_listening(db_url, aiohttp_client, Clock(), opus, tmp_path / "rec")
    stored = await first.store()
    _, link = await make_link(first, stored.recording_id)

    async def node(**recordings: Any) -> Any:
        # Another process on the same database and storage (no reset: the first node's rows stay).
        settings = {"database": {"url": db_url}, "feed": {"port": 0}}
        settings["recordings"] = {"enabled": False, "storage_dir": str(tmp_path / "rec"), **recordings}
        app = make_app(Settings.model_validate(settings))
        app[CLOCK] = lambda: first.clock()
        return await aiohttp_client(app)

    second = await node()
    async with second.get(link["url"]) as resp:
        assert (resp.status, await resp.read()) == (200, first.audio)
    configured = await node(link_secret="s" * 40)
    async with configured.get(link["url"]) as resp:
        assert (resp.status, (await resp.json())["error"]) == (403, "link-invalid")
