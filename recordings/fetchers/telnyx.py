"""Telnyx: the pre-signed ``recording_urls`` of ``call.recording.saved`` work for about ten minutes.
Before ``expires_at`` they are downloaded as they are; afterwards (or when the link is refused) the
Recordings API, ``GET {api_base_url}/v2/recordings/{recording_id}`` with the API key, gives fresh
``download_urls``."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from recordings.fetchers.answers import Refused, read_refusal
from recordings.fetchers.download import Fetching, JsonAnswer, Request, api_json, download
from recordings.fetchers.generic import expiry
from recordings.outcomes import Failed, Outcome

WHO = "Telnyx"
CREDENTIALS = "pbx.telnyx.api_key"
# MP3 first: a tenth of the WAV's size, and the transcoder reads either.
_FORMATS = ("mp3", "wav")
# An expired or otherwise spoilt pre-signed link is answered with one of these by the storage behind it.
_SPOILT = (400, 401, 403, 404, 410)


def links(urls: Any) -> list[str]:
    if not isinstance(urls, Mapping):
        return []
    return [url for name in _FORMATS if isinstance(url := urls.get(name), str) and url]


async def fetch(ref: Mapping[str, Any], dest: Path, ctx: Fetching) -> Outcome:
    presigned = links(ref.get("recording_urls")) or links(ref.get("public_recording_urls"))
    expires = expiry(ref.get("expires_at"))
    if presigned and (expires is None or ctx.now < expires):
        got = await download(ctx, Request(presigned[0]), dest, who=WHO)
        if not isinstance(got, Refused):
            return got
        if got.status not in _SPOILT:
            return read_refusal(got, who=WHO, credentials=CREDENTIALS)
    return await _through_api(ref, dest, ctx)


async def _through_api(ref: Mapping[str, Any], dest: Path, ctx: Fetching) -> Outcome:
    config = ctx.settings.pbx.telnyx
    key = config.api_key if config is not None else None
    if config is None or key is None:
        return Failed("the link expired and pbx.telnyx.api_key is not set")
    recording_id = ref.get("recording_id")
    if not isinstance(recording_id, str) or not recording_id:
        return Failed("the link expired and the Telnyx reference names no recording_id to ask the API for")
    url = f"{config.api_base_url.rstrip('/')}/v2/recordings/{quote(recording_id, safe='')}"
    headers = {"Authorization": f"Bearer {key.get_secret_value()}", "Accept": "application/json"}
    answer = await api_json(ctx, Request(url, headers=headers), who=WHO)
    if isinstance(answer, Refused):
        if answer.status in (404, 410):
            return Failed(f"Telnyx no longer has recording {recording_id} (deleted?)")
        return read_refusal(answer, who=WHO, credentials=CREDENTIALS)
    if not isinstance(answer, JsonAnswer):
        return answer
    data = answer.data.get("data") if isinstance(answer.data, dict) else None
    fresh = links(data.get("download_urls")) if isinstance(data, dict) else []
    if not fresh:
        return Failed(f"the Telnyx Recordings API gave no download link for recording {recording_id}")
    got = await download(ctx, Request(fresh[0]), dest, who=WHO)
    if isinstance(got, Refused):
        return Failed(f"Telnyx refused its own fresh download link (HTTP {got.status})")
    return got
