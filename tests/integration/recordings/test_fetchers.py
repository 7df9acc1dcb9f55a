"""Cloud PBX recordings fetched from fake providers that check signatures and credentials as documented:
each provider's happy path, and what a manager sees (a reason) when the provider misbehaves. Every fetch
writes into an incoming directory of its own, and the tests check nothing else appeared there."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from kolokol.settings import Settings
from recordings.fetchers import FetchLimits, fetch
from recordings.outcomes import Done, Failed, Outcome, RetryLater
from tests.support import fake_providers as fp
from tests.support.fake_providers import FakeProviders, fake_providers, make_audio

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
LIMITS = FetchLimits(max_bytes=1024 * 1024, timeout_seconds=10)


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    return make_audio(tmp_path_factory.mktemp("audio"))


@pytest.fixture
async def fake(audio: dict[str, bytes]) -> AsyncIterator[FakeProviders]:
    async with fake_providers(audio) as providers:
        yield providers


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def settings_for(fake: FakeProviders, **overrides: dict[str, Any]) -> Settings:
    pbx: dict[str, dict[str, Any]] = {
        "mango_office": {
            "vpbx_api_key": fp.MANGO_KEY,
            "vpbx_api_salt": fp.MANGO_SALT,
            "api_base_url": f"{fake.api_url}/vpbx",
        },
        "zadarma": {"api_key": fp.ZADARMA_KEY, "api_secret": fp.ZADARMA_SECRET, "api_base_url": fake.api_url},
        "megafon_vats": {"crm_token": "crm-token", "api_key": fp.MEGAFON_KEY},
        "twilio": {
            "account_sid": fp.TWILIO_SID,
            "auth_token": fp.TWILIO_TOKEN,
            "public_base_url": "https://kolokol.example",
            "api_base_url": fake.api_url,
        },
        "telnyx": {"public_key": "A" * 44, "api_base_url": fake.api_url, "api_key": fp.TELNYX_KEY},
        "generic": {},
    }
    for name, changes in overrides.items():
        pbx[name] = {**pbx[name], **changes}
    return Settings.model_validate({"pbx": pbx})


def mango_ref() -> dict[str, Any]:
    return {
        "provider": "mango_office",
        "recording_id": fp.MANGO_RECORDING,
        "fetch": "mango_recording_post",
        "ready": True,
    }


def zadarma_ref(*, ready: bool = True) -> dict[str, Any]:
    return {
        "provider": "zadarma",
        "pbx_call_id": fp.ZADARMA_PBX_CALL,
        "call_id_with_rec": fp.ZADARMA_CALL,
        "fetch": "zadarma_pbx_record_request",
        "ready": ready,
    }


def megafon_ref(fake: FakeProviders) -> dict[str, Any]:
    return {"provider": "megafon_vats", "url": f"{fake.api_url}/megapbx/records/2f1c.mp3", "fetch": "GET"}


def twilio_ref(*, status: str = "completed") -> dict[str, Any]:
    return {
        "provider": "twilio",
        "recording_sid": fp.TWILIO_RECORDING,
        "call_sid": "CA" + "2" * 32,
        "account_sid": fp.TWILIO_SID,
        "url": f"https://api.twilio.com/2010-04-01/Accounts/{fp.TWILIO_SID}/Recordings/{fp.TWILIO_RECORDING}",
        "status": status,
        "expires_at": None,
    }


def telnyx_ref(fake: FakeProviders, *, expires_at: datetime) -> dict[str, Any]:
    return {
        "provider": "telnyx",
        "recording_id": fp.TELNYX_RECORDING,
        "recording_urls": {"mp3": fake.presigned("telnyx.mp3"), "wav": fake.presigned("telnyx.wav")},
        "public_recording_urls": {},
        "expires_at": expires_at.isoformat().replace("+00:00", "Z"),
    }


def generic_ref(fake: FakeProviders, **extra: Any) -> dict[str, Any]:
    return {"provider": "generic", "id": "rec-1", "url": fake.file_link("generic.mp3"), **extra}


class Place:
    """An incoming directory of its own: what a fetch leaves there is all it wrote."""

    def __init__(self, root: Path) -> None:
        self.dir = root / "incoming"
        self.dir.mkdir()
        self.dest = self.dir / "rec0001.original"

    def files(self) -> list[str]:
        return sorted(p.name for p in self.dir.iterdir())


@pytest.fixture
def place(tmp_path: Path) -> Place:
    return Place(tmp_path)


async def run(
    ref: dict[str, Any], place: Place, http: aiohttp.ClientSession, settings: Settings, **kw: Any
) -> Outcome:
    return await fetch(
        ref, place.dest, settings=settings, http=http, now=kw.get("now", NOW), limits=kw.get("limits", LIMITS)
    )


def assert_done(outcome: Outcome, place: Place, body: bytes, mime: str = "audio/mpeg") -> None:
    assert outcome == Done(place.dest, mime)
    assert place.dest.read_bytes() == body
    assert place.files() == [place.dest.name]


def assert_failed(outcome: Outcome, place: Place, *words: str) -> None:
    assert isinstance(outcome, Failed), outcome
    for word in words:
        assert word in outcome.reason
    assert place.files() == []


# ---- each provider as documented ----------------------------------------------------------------


async def test_mango_signed_request_redirects_to_a_one_time_link(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession, audio: dict[str, bytes]
) -> None:
    outcome = await run(mango_ref(), place, http, settings_for(fake))
    assert_done(outcome, place, audio["mp3"])
    api, link = (s.path for s in fake.seen)
    assert api == "/vpbx/queries/recording/post" and link.startswith("/files/mango-")


async def test_zadarma_signed_link_request_then_the_link(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession, audio: dict[str, bytes]
) -> None:
    outcome = await run(zadarma_ref(), place, http, settings_for(fake))
    assert_done(outcome, place, audio["mp3"])
    assert "Authorization" not in fake.file_requests()[0].headers


async def test_zadarma_by_the_pbx_call_id_when_the_recording_id_is_unknown(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession, audio: dict[str, bytes]
) -> None:
    ref = {**zadarma_ref(), "call_id_with_rec": ""}
    assert_done(await run(ref, place, http, settings_for(fake)), place, audio["mp3"])


async def test_megafon_link_with_the_vpbx_api_key(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession, audio: dict[str, bytes]
) -> None:
    assert_done(await run(megafon_ref(fake), place, http, settings_for(fake)), place, audio["mp3"])


async def test_twilio_recording_with_basic_auth(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession, audio: dict[str, bytes]
) -> None:
    assert_done(await run(twilio_ref(), place, http, settings_for(fake)), place, audio["mp3"])
    # Twilio redirects to storage: the account's credentials do not follow to another host.
    assert [("Authorization" in s.headers) for s in fake.seen] == [True, False]


async def test_telnyx_presigned_link_before_it_expires_needs_no_api_key(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession, audio: dict[str, bytes]
) -> None:
    settings = settings_for(fake, telnyx={"api_key": None})
    ref = telnyx_ref(fake, expires_at=NOW + timedelta(minutes=5))
    assert_done(await run(ref, place, http, settings), place, audio["mp3"])
    assert [s.path for s in fake.seen] == ["/s3/telnyx.mp3"]


async def test_telnyx_expired_link_is_refreshed_through_the_recordings_api(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession, audio: dict[str, bytes]
) -> None:
    ref = telnyx_ref(fake, expires_at=NOW - timedelta(minutes=1))
    assert_done(await run(ref, place, http, settings_for(fake)), place, audio["mp3"])
    assert [s.path for s in fake.seen] == [f"/v2/recordings/{fp.TELNYX_RECORDING}", "/s3/fresh.mp3"]
    # The API key went to the API, never to the storage.
    assert "Authorization" not in fake.file_requests()[0].headers


async def test_telnyx_link_refused_before_its_time_is_refreshed_too(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession, audio: dict[str, bytes]
) -> None:
    fake.switches.expired_links = True
    ref = telnyx_ref(fake, expires_at=NOW + timedelta(minutes=5))
    assert_done(await run(ref, place, http, settings_for(fake)), place, audio["mp3"])


async def test_telnyx_expired_link_without_an_api_key_fails_saying_so(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession
) -> None:
    settings = settings_for(fake, telnyx={"api_key": None})
    outcome = await run(telnyx_ref(fake, expires_at=NOW - timedelta(minutes=1)), place, http, settings)
    assert outcome == Failed("the link expired and pbx.telnyx.api_key is not set")
    assert fake.seen == [] and place.files() == []


async def test_generic_link_and_its_expiry(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession, audio: dict[str, bytes]
) -> None:
    settings = settings_for(fake)
    late = generic_ref(fake, expires_at=(NOW - timedelta(seconds=1)).isoformat())
    assert_failed(await run(late, place, http, settings), place, "expired")
    assert fake.seen == []
    in_time = generic_ref(fake, expires_at=(NOW + timedelta(hours=1)).isoformat())
    assert_done(await run(in_time, place, http, settings), place, audio["mp3"])


async def test_wav_is_kept_as_wav(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession, audio: dict[str, bytes]
) -> None:
    ref = {"provider": "generic", "url": fake.file_link("call.wav")}
    assert_done(await run(ref, place, http, settings_for(fake)), place, audio["wav"], "audio/wav")


# ---- misbehaving providers -----------------------------------------------------------------------


@pytest.mark.parametrize("provider", ["mango", "zadarma", "twilio", "telnyx"])
async def test_500_then_200_is_retried_and_then_done(
    provider: str, fake: FakeProviders, place: Place, http: aiohttp.ClientSession, audio: dict[str, bytes]
) -> None:
    refs = {
        "mango": mango_ref(),
        "zadarma": zadarma_ref(),
        "twilio": twilio_ref(),
        "telnyx": telnyx_ref(fake, expires_at=NOW - timedelta(minutes=1)),
    }
    fake.switches.fail_first = 1
    first = await run(refs[provider], place, http, settings_for(fake))
    assert isinstance(first, RetryLater) and "HTTP 500" in first.reason
    assert place.files() == []
    # The worker tries again later: the provider has recovered.
    assert_done(await run(refs[provider], place, http, settings_for(fake)), place, audio["mp3"])


async def test_rate_limits_pass_on_the_retry_after(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession
) -> None:
    fake.switches.fail_first, fake.switches.retry_after = 1, "120"
    outcome = await run(twilio_ref(), place, http, settings_for(fake))
    assert isinstance(outcome, RetryLater) and outcome.after_seconds == 120


@pytest.mark.parametrize(
    ("ref_of", "override", "setting"),
    [
        (
            lambda f: mango_ref(),
            {"mango_office": {"vpbx_api_salt": "wrong"}},
            "pbx.mango_office.vpbx_api_key",
        ),
        (lambda f: zadarma_ref(), {"zadarma": {"api_secret": "wrong"}}, "pbx.zadarma.api_key"),
        (megafon_ref, {"megafon_vats": {"api_key": "wrong"}}, "pbx.megafon_vats.api_key"),
        (lambda f: twilio_ref(), {"twilio": {"auth_token": "wrong"}}, "pbx.twilio.account_sid"),
        (
            lambda f: telnyx_ref(f, expires_at=NOW - timedelta(minutes=1)),
            {"telnyx": {"api_key": "wrong"}},
            "pbx.telnyx.api_key",
        ),
    ],
)
async def test_wrong_credentials_fail_naming_the_setting_to_check(
    ref_of: Any,
    override: dict[str, dict[str, Any]],
    setting: str,
    fake: FakeProviders,
    place: Place,
    http: aiohttp.ClientSession,
) -> None:
    outcome = await run(ref_of(fake), place, http, settings_for(fake, **override))
    assert_failed(outcome, place, setting)


async def test_a_web_page_instead_of_audio_fails(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession
) -> None:
    fake.switches.html = True
    outcome = await run(zadarma_ref(), place, http, settings_for(fake))
    assert outcome == Failed("the provider sent a web page, not audio")
    assert place.files() == []


async def test_an_api_answering_a_web_page_instead_of_its_json_fails(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession
) -> None:
    fake.switches.api_html = True
    outcome = await run(zadarma_ref(), place, http, settings_for(fake))
    assert_failed(outcome, place, "web page", "not the JSON its API promises")
    assert fake.file_requests() == []


async def test_a_body_over_the_size_cap_fails_and_leaves_nothing(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession
) -> None:
    fake.switches.huge_bytes = 3 * LIMITS.max_bytes
    outcome = await run(generic_ref(fake), place, http, settings_for(fake))
    assert_failed(outcome, place, "recordings.fetch_max_bytes")


async def test_a_file_over_the_cap_by_its_length_is_not_read(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession, audio: dict[str, bytes]
) -> None:
    small = FetchLimits(max_bytes=len(audio["mp3"]) - 1, timeout_seconds=10)
    outcome = await run(megafon_ref(fake), place, http, settings_for(fake), limits=small)
    assert_failed(outcome, place, "larger than recordings.fetch_max_bytes")


async def test_a_hanging_provider_is_retried_later(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession
) -> None:
    fake.switches.hang = True
    quick = FetchLimits(max_bytes=LIMITS.max_bytes, timeout_seconds=0.5)
    outcome = await run(generic_ref(fake), place, http, settings_for(fake), limits=quick)
    assert isinstance(outcome, RetryLater) and "did not answer in time" in outcome.reason
    assert place.files() == []


async def test_a_trickling_download_is_cut_off_and_retried_later(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession
) -> None:
    fake.switches.trickle = True
    # Every wait for data is short, yet the whole would take far longer than allowed.
    brief = FetchLimits(max_bytes=LIMITS.max_bytes, timeout_seconds=5, total_seconds=0.5)
    outcome = await run(generic_ref(fake), place, http, settings_for(fake), limits=brief)
    assert outcome == RetryLater("the download from the PBX did not finish within 0.5 s")
    assert place.files() == []


async def test_a_refused_connection_is_retried_later(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession
) -> None:
    # A port that was just free: nothing listens there.
    closed = fake.files_url.rsplit(":", 1)[0] + ":1"
    outcome = await run({"provider": "generic", "url": f"{closed}/x.mp3"}, place, http, settings_for(fake))
    assert isinstance(outcome, RetryLater) and "cannot connect" in outcome.reason


async def test_three_redirects_are_followed_a_fourth_is_not(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession, audio: dict[str, bytes]
) -> None:
    fake.switches.redirects = 3
    assert_done(await run(generic_ref(fake), place, http, settings_for(fake)), place, audio["mp3"])
    place.dest.unlink()
    fake.switches.redirects = 4
    assert_failed(
        await run(generic_ref(fake), place, http, settings_for(fake)), place, "redirected more than 3"
    )


async def test_not_ready_yet_is_retried_where_the_provider_says_so(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession
) -> None:
    fake.switches.not_ready = True
    settings = settings_for(fake)
    waiting = await run(zadarma_ref(ready=False), place, http, settings)
    assert isinstance(waiting, RetryLater) and waiting.after_seconds == 60
    assert isinstance(await run({**mango_ref(), "ready": False}, place, http, settings), RetryLater)
    assert isinstance(await run(twilio_ref(status="announced"), place, http, settings), RetryLater)
    # Said to be stored, yet missing: that is final.
    assert_failed(await run(twilio_ref(), place, http, settings), place, "HTTP 404")
    assert_failed(await run(zadarma_ref(ready=True), place, http, settings), place, "record not found")


async def test_unknown_provider_and_reference_without_a_link(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession
) -> None:
    settings = settings_for(fake)
    assert_failed(await run({"provider": "sipuni"}, place, http, settings), place, "'sipuni'")
    assert_failed(
        await run({"provider": "generic", "id": "77"}, place, http, settings), place, "77", "without a link"
    )
    assert_failed(
        await run({"provider": "generic", "url": "file:///etc/passwd"}, place, http, settings),
        place,
        "cannot fetch",
    )


async def test_a_link_planted_at_the_destination_is_not_followed(
    fake: FakeProviders, place: Place, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("kept")
    place.dest.symlink_to(outside)
    outcome = await run(generic_ref(fake), place, http, settings_for(fake))
    assert isinstance(outcome, Failed) and "cannot write the recording" in outcome.reason
    assert outside.read_text() == "kept"
    assert place.files() == []
