"""Twilio: ``GET {api_base_url}/2010-04-01/Accounts/{AccountSid}/Recordings/{RecordingSid}.mp3`` with
HTTP Basic AccountSid:auth_token (needed when the account enforces auth on media, harmless otherwise).
The address is built from the settings, so the credentials only ever go to Twilio's API."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from recordings.fetchers.answers import Refused, read_refusal
from recordings.fetchers.download import Fetching, Request, download
from recordings.fetchers.signing import basic_authorization
from recordings.outcomes import Failed, Outcome

WHO = "Twilio"
CREDENTIALS = "pbx.twilio.account_sid and auth_token"


async def fetch(ref: Mapping[str, Any], dest: Path, ctx: Fetching) -> Outcome:
    config = ctx.settings.pbx.twilio
    if config is None:
        return Failed(f"pbx.twilio is not configured: {CREDENTIALS} are needed to fetch the recording")
    recording_sid = ref.get("recording_sid")
    if not isinstance(recording_sid, str) or not recording_sid:
        return Failed("the Twilio reference names no recording_sid")
    account = ref.get("account_sid") if isinstance(ref.get("account_sid"), str) else None
    account_sid = account or config.account_sid
    url = (
        f"{config.api_base_url.rstrip('/')}/2010-04-01/Accounts/{quote(account_sid, safe='')}"
        f"/Recordings/{quote(recording_sid, safe='')}.mp3"
    )
    auth = basic_authorization(config.account_sid, config.auth_token.get_secret_value())
    got = await download(ctx, Request(url, headers={"Authorization": auth}), dest, who=WHO)
    if not isinstance(got, Refused):
        return got
    # Named by the Dial action only, the recording may still be processing: 404 until it is done.
    processing = ref.get("status") != "completed"
    return read_refusal(got, who=WHO, credentials=CREDENTIALS, not_ready=processing)
