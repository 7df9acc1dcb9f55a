"""How the recording APIs' requests are signed, written out step by step from the providers' docs and
compared with what the fetchers send; plus the pure readings of answers (audio or not, Retry-After)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from recordings.fetchers.answers import Refused, read_refusal, retry_after_seconds
from recordings.fetchers.signing import basic_authorization, mango_form, zadarma_authorization, zadarma_query
from recordings.fetchers.sniff import audio_mime, not_audio_reason
from recordings.outcomes import Failed, RetryLater


def test_mango_signs_key_json_and_salt_with_sha256() -> None:
    form = mango_form("key-1", "salt-2", {"recording_id": "MToxMDA", "action": "download"})
    assert form["vpbx_api_key"] == "key-1"
    assert json.loads(form["json"]) == {"recording_id": "MToxMDA", "action": "download"}
    # The signature covers the JSON text exactly as it is sent.
    expected = hashlib.sha256(("key-1" + form["json"] + "salt-2").encode()).hexdigest()
    assert form["sign"] == expected
    assert mango_form("key-1", "other-salt", {"recording_id": "MToxMDA"})["sign"] != expected


def test_zadarma_signs_path_sorted_query_and_its_md5_then_base64s_the_hex_digest() -> None:
    params = {"pbx_call_id": "in 1", "call_id": "17.5", "lifetime": "180"}
    query = "call_id=17.5&lifetime=180&pbx_call_id=in+1"
    assert zadarma_query(params) == query
    method = "/v1/pbx/record/request/"
    signed = method + query + hashlib.md5(query.encode(), usedforsecurity=False).hexdigest()
    hex_digest = hmac.new(b"s3cret", signed.encode(), hashlib.sha1).hexdigest()
    header = zadarma_authorization("k1", "s3cret", method, params)
    assert header == "k1:" + base64.b64encode(hex_digest.encode()).decode()
    # Base64 of the 40-character hex text, not of the 20 raw bytes.
    assert len(base64.b64decode(header.split(":", 1)[1])) == 40


def test_zadarma_signature_depends_on_every_part() -> None:
    base = zadarma_authorization("k", "s", "/v1/pbx/record/request/", {"call_id": "1"})
    assert zadarma_authorization("k", "t", "/v1/pbx/record/request/", {"call_id": "1"}) != base
    assert zadarma_authorization("k", "s", "/v1/pbx/record/request/", {"call_id": "2"}) != base
    assert zadarma_authorization("k", "s", "/v1/info/balance/", {"call_id": "1"}) != base


def test_basic_authorization_is_user_colon_password() -> None:
    header = basic_authorization("AC123", "tok")
    assert header.startswith("Basic ")
    assert base64.b64decode(header[6:]) == b"AC123:tok"


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"RIFF\x24\x08\x00\x00WAVEfmt ", "audio/wav"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "audio/mpeg"),
        (b"\xff\xfb\x90\x64\x00\x00\x00\x00", "audio/mpeg"),
        (b"\xff\xf1\x50\x80\x00\x1f\xfc", "audio/aac"),
        (b"OggS\x00\x02\x00\x00", "audio/ogg"),
        (b"fLaC\x00\x00\x00\x22", "audio/flac"),
        (b"\x00\x00\x00\x20ftypM4A ", "audio/mp4"),
        (b"#!AMR\n<", "audio/amr"),
    ],
)
def test_audio_is_recognized_by_its_first_bytes(head: bytes, mime: str) -> None:
    assert audio_mime(head) == mime


@pytest.mark.parametrize(
    ("head", "content_type", "reason"),
    [
        (b"<!DOCTYPE html><html>", "audio/mpeg", "the provider sent a web page, not audio"),
        (b"\n  <html lang=ru>", None, "the provider sent a web page, not audio"),
        (b'{"status":"error"}', "application/json", "the provider sent a JSON answer, not audio"),
        (b"<?xml version=", "application/xml", "the provider sent an XML document, not audio"),
        (b"Access denied", "text/plain", "the provider sent text, not audio"),
        (b"", "audio/mpeg", "the provider sent an empty file instead of the recording"),
    ],
)
def test_what_is_not_audio_is_named(head: bytes, content_type: str | None, reason: str) -> None:
    assert audio_mime(head) is None
    assert not_audio_reason(head, content_type) == reason


def test_binary_that_is_not_audio_is_named_with_its_first_bytes() -> None:
    assert audio_mime(b"PK\x03\x04\x14\x00") is None
    assert "50 4b 03 04" in not_audio_reason(b"PK\x03\x04\x14\x00", "application/octet-stream")


NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after_seconds("30", NOW) == 30
    assert retry_after_seconds("Thu, 03 Dec 2026 12:02:00 GMT", NOW) == 120
    assert retry_after_seconds("Thu, 03 Dec 2026 11:00:00 GMT", NOW) == 0
    assert retry_after_seconds("soon", NOW) is None
    assert retry_after_seconds(None, NOW) is None
    assert retry_after_seconds("999999999", NOW) == 24 * 3600


def test_refusals_name_the_settings_to_check_or_wait_when_not_ready() -> None:
    bad_key = read_refusal(Refused(401), who="Zadarma", credentials="pbx.zadarma.api_key and api_secret")
    expected = "Zadarma refused kolokol's credentials: check pbx.zadarma.api_key and api_secret"
    assert bad_key == Failed(expected)
    gone = read_refusal(Refused(410, "deleted"), who="Twilio", credentials="x")
    assert isinstance(gone, Failed) and "HTTP 410" in gone.reason and "deleted" in gone.reason
    waiting = read_refusal(Refused(404), who="Mango Office", credentials="x", not_ready=True)
    assert isinstance(waiting, RetryLater)
