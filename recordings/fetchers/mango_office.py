"""Mango Office: the recording is handed out by a signed API request,
``POST {api_base_url}/queries/recording/post`` with ``{"recording_id", "action": "download"}``, which
answers with the file or (usually) a redirect to a one-time link."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recordings.fetchers.answers import Refused, read_refusal
from recordings.fetchers.download import Fetching, Request, download
from recordings.fetchers.signing import mango_form
from recordings.outcomes import Failed, Outcome, RetryLater

WHO = "Mango Office"
CREDENTIALS = "pbx.mango_office.vpbx_api_key and vpbx_api_salt"
# Mango's advice for a recording that is not downloadable yet: ask again in about a minute.
_NOT_YET_SECONDS = 60.0


async def fetch(ref: Mapping[str, Any], dest: Path, ctx: Fetching) -> Outcome:
    config = ctx.settings.pbx.mango_office
    if config is None:
        return Failed(f"pbx.mango_office is not configured: {CREDENTIALS} are needed to fetch the recording")
    recording_id = ref.get("recording_id")
    if not isinstance(recording_id, str) or not recording_id:
        return Failed("the Mango Office reference names no recording_id")
    form = mango_form(
        config.vpbx_api_key,
        config.vpbx_api_salt.get_secret_value(),
        {"recording_id": recording_id, "action": "download"},
    )
    url = f"{config.api_base_url.rstrip('/')}/queries/recording/post"
    got = await download(ctx, Request(url, "POST", form=form), dest, who=WHO)
    if not isinstance(got, Refused):
        return got
    if got.status == 400:
        # A bad signature is answered 400 (and rate-limited hard): the key or the salt is wrong.
        return read_refusal(Refused(401, got.detail), who=WHO, credentials=CREDENTIALS)
    outcome = read_refusal(got, who=WHO, credentials=CREDENTIALS, not_ready=not ref.get("ready"))
    if isinstance(outcome, RetryLater):
        return RetryLater(outcome.reason, _NOT_YET_SECONDS)
    return outcome
