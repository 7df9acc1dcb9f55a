"""Fake cloud PBX recording APIs built from the providers' documentation, on ports the system picks.

One "API" server answers as Mango Office, Zadarma, MegaFon, Twilio and Telnyx do, checking their
signatures and credentials exactly as documented (written out here again, independently of the
fetchers); a second server on another port stands for the file hosts the APIs send clients on to (Mango's
one-time links, Zadarma's links, Telnyx's pre-signed storage), so that credentials following a redirect
there would be seen. Switches make them misbehave: 500s first, expired links, a web page instead of
audio, wrong credentials, a hang, redirect chains, a body bigger than allowed."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from tests.support.providers import zadarma as zadarma_hooks

MANGO_KEY = "mango-api-key"
MANGO_SALT = "mango-api-salt"
MANGO_RECORDING = "MToxMDA4Mjc0MzoxNTc2NjQzMTYyNzow"
# The same account as the webhook fixtures (Zadarma signs its notifications with the API secret too).
ZADARMA_KEY = zadarma_hooks.KEY
ZADARMA_SECRET = zadarma_hooks.SECRET
ZADARMA_CALL = "1700000000.12345"
ZADARMA_PBX_CALL = "in_answered1"
MEGAFON_KEY = "megafon-vpbx-api-key"
TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "twilio-auth-token"
TWILIO_RECORDING = "RE" + "1" * 32
TELNYX_KEY = "KEY0123456789abcdef"
TELNYX_RECORDING = "c3a4e8f0-1b2d-4e5f-8a9b-0c1d2e3f4a5b"


def make_audio(directory: Path) -> dict[str, bytes]:
    """A second of real audio as WAV (sox) and MP3 (ffmpeg), as providers serve recordings."""
    wav, mp3 = directory / "tone.wav", directory / "tone.mp3"
    subprocess.run(
        ["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(wav), "synth", "1", "sine", "440"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-i", str(wav), "-b:a", "32k", str(mp3)],
        check=True,
        capture_output=True,
    )
    return {"wav": wav.read_bytes(), "mp3": mp3.read_bytes()}


@dataclass
class Switches:
    """How the fakes misbehave (all off: they answer as the documentation says)."""

    fail_first: int = 0  # answer 500 to this many requests before behaving
    retry_after: str | None = None  # with those 500s... 503s and this Retry-After instead
    not_ready: bool = False  # the recording is not there yet (404 from the APIs)
    expired_links: bool = False  # pre-signed and one-time links answer 403 as expired storage links do
    html: bool = False  # the file hosts answer 200 with a login page
    api_html: bool = False  # the APIs answer 200 with a maintenance page
    hang: bool = False  # the file hosts never answer
    stall_after: int = 0  # the file hosts send this many bytes of the file, then nothing more
    trickle: bool = False  # the file hosts send the file a few bytes at a time, never quite stopping
    redirects: int = 0  # the file hosts redirect this many times before serving
    huge_bytes: int = 0  # the file hosts stream this many bytes (an MP3 frame, then zeros), no length


@dataclass
class Seen:
    path: str
    headers: dict[str, str]


@dataclass
class FakeProviders:
    audio: dict[str, bytes]
    switches: Switches = field(default_factory=Switches)
    api_url: str = ""
    files_url: str = ""
    seen: list[Seen] = field(default_factory=list)
    _failures: int = 0
    _one_time: set[str] = field(default_factory=set)
    _forever: asyncio.Event = field(default_factory=asyncio.Event)

    # ---- what tests build references and settings from ---------------------------------------

    def presigned(self, name: str = "telnyx.mp3") -> str:
        """A pre-signed storage link (as Telnyx's call.recording.saved carries)."""
        query = urlencode({"X-Amz-Expires": "600", "X-Amz-Signature": secrets.token_hex(16)})
        return f"{self.files_url}/s3/{name}?{query}"

    def file_link(self, name: str) -> str:
        return f"{self.files_url}/files/{name}"

    def file_requests(self) -> list[Seen]:
        return [s for s in self.seen if s.path.startswith(("/files/", "/s3/"))]

    # ---- the servers --------------------------------------------------------------------------

    def api_app(self) -> web.Application:
        app = web.Application(middlewares=[self._record, self._flaky])
        app.router.add_post("/vpbx/queries/recording/post", self._mango)
        app.router.add_get("/v1/pbx/record/request/", self._zadarma)
        app.router.add_get("/megapbx/records/{name}", self._megafon)
        app.router.add_get("/2010-04-01/Accounts/{account}/Recordings/{name}", self._twilio)
        app.router.add_get("/v2/recordings/{id}", self._telnyx)
        return app

    def files_app(self) -> web.Application:
        app = web.Application(middlewares=[self._record, self._flaky])
        app.router.add_get("/files/{name}", self._file)
        app.router.add_get("/s3/{name}", self._file)
        return app

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.seen.append(Seen(request.path, dict(request.headers)))
        response: web.StreamResponse = await handler(request)
        return response

    @web.middleware
    async def _flaky(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self._failures < self.switches.fail_first:
            self._failures += 1
            if self.switches.retry_after is not None:
                return web.Response(status=503, headers={"Retry-After": self.switches.retry_after})
            return web.Response(status=500, text="internal error")
        response: web.StreamResponse = await handler(request)
        return response

    # ---- Mango Office: POST form vpbx_api_key, sign = sha256(key + json + salt), json -----------

    async def _mango(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        key, sign, text = (
            str(form.get("vpbx_api_key", "")),
            str(form.get("sign", "")),
            str(form.get("json", "")),
        )
        expected = hashlib.sha256((key + text + MANGO_SALT).encode()).hexdigest()
        if key != MANGO_KEY or not hmac.compare_digest(sign, expected):
            # Mango answers a bad signature as a bad request (and rate-limits the sender).
            return web.json_response({"result": 3102, "message": "wrong sign"}, status=400)
        payload = json.loads(text)
        if payload.get("recording_id") != MANGO_RECORDING or payload.get("action") != "download":
            return web.json_response({"result": 3101}, status=404)
        if self.switches.not_ready:
            return web.json_response({"result": 3101, "message": "recording not found"}, status=404)
        # A one-time link on the file host.
        token = secrets.token_hex(8)
        self._one_time.add(token)
        raise web.HTTPFound(self.file_link(f"mango-{token}.mp3"))

    # ---- Zadarma: Authorization key:base64(hex(hmac_sha1(secret, path + query + md5(query)))) ----

    async def _zadarma(self, request: web.Request) -> web.StreamResponse:
        if self.switches.api_html:
            return web.Response(text="<html><body>Maintenance</body></html>", content_type="text/html")
        params = sorted(request.query.items())
        query = urlencode(params)
        signed = request.path + query + hashlib.md5(query.encode(), usedforsecurity=False).hexdigest()
        digest = hmac.new(ZADARMA_SECRET.encode(), signed.encode(), hashlib.sha1).hexdigest()
        expected = f"{ZADARMA_KEY}:{base64.b64encode(digest.encode()).decode()}"
        if not hmac.compare_digest(request.headers.get("Authorization", ""), expected):
            return web.json_response({"status": "error", "message": "Not authorized"}, status=401)
        asked = dict(params)
        if asked.get("call_id") != ZADARMA_CALL and asked.get("pbx_call_id") != ZADARMA_PBX_CALL:
            return web.json_response({"status": "error", "message": "record not found"}, status=404)
        if self.switches.not_ready:
            return web.json_response({"status": "error", "message": "record not found"})
        link = self.file_link(f"zadarma-{ZADARMA_CALL}.mp3")
        if "call_id" in asked:
            return web.json_response(
                {"status": "success", "link": link, "lifetime_till": "2026-12-03 12:33:00"}
            )
        return web.json_response(
            {"status": "success", "links": [link], "lifetime_till": "2026-12-03 12:33:00"}
        )

    # ---- MegaFon VPBX: the history's link, X-API-KEY ---------------------------------------------

    async def _megafon(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("X-API-KEY") != MEGAFON_KEY:
            return web.json_response({"error": "Unauthorized"}, status=401)
        return web.Response(body=self.audio["mp3"], content_type="audio/mpeg")

    # ---- Twilio: .../Recordings/{RecordingSid}.mp3 with Basic AccountSid:AuthToken ---------------

    async def _twilio(self, request: web.Request) -> web.StreamResponse:
        expected = "Basic " + base64.b64encode(f"{TWILIO_SID}:{TWILIO_TOKEN}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"code": 20003, "message": "Authenticate", "status": 401}, status=401)
        name = request.match_info["name"]
        if request.match_info["account"] != TWILIO_SID or name.rpartition(".")[0] != TWILIO_RECORDING:
            return web.json_response({"code": 20404, "message": "not found", "status": 404}, status=404)
        if self.switches.not_ready:
            return web.json_response({"code": 20404, "message": "not found", "status": 404}, status=404)
        if name.rpartition(".")[2] not in self.audio:
            return web.json_response({"code": 20404, "message": "not found", "status": 404}, status=404)
        # Twilio sends media requests on to pre-signed storage links.
        raise web.HTTPFound(self.presigned(f"twilio-{name}"))

    # ---- Telnyx: GET /v2/recordings/{id} with Bearer API key -> fresh download_urls ---------------

    async def _telnyx(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {TELNYX_KEY}":
            errors = [{"code": "10009", "title": "Authentication failed", "detail": "invalid API key"}]
            return web.json_response({"errors": errors}, status=401)
        if request.match_info["id"] != TELNYX_RECORDING:
            return web.json_response(
                {"errors": [{"code": "10005", "title": "Resource not found"}]}, status=404
            )
        fresh = {"mp3": self.presigned("fresh.mp3"), "wav": self.presigned("fresh.wav")}
        data = {
            "record_type": "recording",
            "id": TELNYX_RECORDING,
            "download_urls": fresh,
            "channels": "single",
        }
        return web.json_response({"data": data})

    # ---- the file hosts -------------------------------------------------------------------------

    async def _file(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        hop = int(request.query.get("hop", "0"))
        if hop < self.switches.redirects:
            raise web.HTTPFound(request.rel_url.with_query({**request.query, "hop": str(hop + 1)}))
        if name.startswith("mango-"):
            token = name.removeprefix("mango-").removesuffix(".mp3")
            if token not in self._one_time:
                return web.Response(status=410, text="link used")
            self._one_time.discard(token)
        if self.switches.expired_links and not name.startswith("fresh"):
            body = "<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>"
            return web.Response(status=403, text=body, content_type="application/xml")
        if self.switches.hang:
            await self._forever.wait()
        kind = "wav" if name.endswith(".wav") else "mp3"
        if self.switches.trickle:
            body = self.audio[kind]
            slow = web.StreamResponse(
                headers={"Content-Type": "audio/mpeg", "Content-Length": str(len(body))}
            )
            await slow.prepare(request)
            for start in range(0, len(body), 16):
                await slow.write(body[start : start + 16])
                await asyncio.sleep(0.02)
            await slow.write_eof()
            return slow
        if self.switches.stall_after:
            body = self.audio[kind]
            stalled = web.StreamResponse(
                headers={"Content-Type": "audio/mpeg", "Content-Length": str(len(body))}
            )
            await stalled.prepare(request)
            await stalled.write(body[: self.switches.stall_after])
            await self._forever.wait()
            return stalled
        if self.switches.html:
            page = "<!DOCTYPE html><html><body><form>Log in to see the recording</form></body></html>"
            return web.Response(text=page, content_type="text/html")
        if self.switches.huge_bytes:
            response = web.StreamResponse(headers={"Content-Type": "audio/mpeg"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            sent = 0
            frame = self.audio["mp3"][:4096]
            while sent < self.switches.huge_bytes:
                piece = frame if sent == 0 else bytes(64 * 1024)
                await response.write(piece)
                sent += len(piece)
            await response.write_eof()
            return response
        return web.Response(
            body=self.audio[kind], content_type="audio/mpeg" if kind == "mp3" else "audio/wav"
        )


@asynccontextmanager
async def fake_providers(audio: dict[str, bytes]) -> AsyncIterator[FakeProviders]:
    """Both servers on ports the system picks, stopped at the end (a hanging request is let go)."""
    fake = FakeProviders(audio)
    runners = [web.AppRunner(fake.api_app()), web.AppRunner(fake.files_app())]
    urls = []
    try:
        for runner in runners:
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            urls.append(f"http://127.0.0.1:{port}")
        fake.api_url, fake.files_url = urls
        yield fake
    finally:
        fake._forever.set()
        for runner in runners:
            await runner.cleanup()
