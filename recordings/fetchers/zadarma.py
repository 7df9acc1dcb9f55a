"""Zadarma (and Novofon v1): ``GET {api_base_url}/v1/pbx/record/request/`` signed with the API key
answers a temporary link to the file (``link``, or ``links`` when asked by pbx_call_id), then the link
is downloaded as it is."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recordings.fetchers.answers import Refused, read_refusal
from recordings.fetchers.download import Fetching, JsonAnswer, Request, api_json, download
from recordings.fetchers.signing import zadarma_authorization, zadarma_query
from recordings.outcomes import Failed, Outcome, RetryLater

WHO = "Zadarma"
METHOD = "/v1/pbx/record/request/"
CREDENTIALS = "pbx.zadarma.api_key and api_secret"
# The shortest lifetime Zadarma grants: the link is used at once, nobody else should hold a live one.
LINK_LIFETIME_SECONDS = 180
# Zadarma's advice: the file is there about 40 s after the call; until NOTIFY_RECORD, ask again then.
_NOT_YET_SECONDS = 60.0


def request_params(ref: Mapping[str, Any]) -> dict[str, str] | None:
    """The API's query for this recording: by the recording's call_id, else every one of the call's."""
    call_id = ref.get("call_id_with_rec")
    if isinstance(call_id, str) and call_id:
        return {"call_id": call_id, "lifetime": str(LINK_LIFETIME_SECONDS)}
    pbx_call_id = ref.get("pbx_call_id")
    if isinstance(pbx_call_id, str) and pbx_call_id:
        return {"pbx_call_id": pbx_call_id, "lifetime": str(LINK_LIFETIME_SECONDS)}
    return None


async def fetch(ref: Mapping[str, Any], dest: Path, ctx: Fetching) -> Outcome:
    config = ctx.settings.pbx.zadarma
    if config is None:
        return Failed(f"pbx.zadarma is not configured: {CREDENTIALS} are needed to fetch the recording")
    params = request_params(ref)
    if params is None:
        return Failed("the Zadarma reference names neither call_id_with_rec nor pbx_call_id")
    ready = bool(ref.get("ready"))
    auth = zadarma_authorization(config.api_key, config.api_secret.get_secret_value(), METHOD, params)
    url = f"{config.api_base_url.rstrip('/')}{METHOD}?{zadarma_query(params)}"
    answer = await api_json(ctx, Request(url, headers={"Authorization": auth}), who=WHO)
    if isinstance(answer, Refused):
        outcome = read_refusal(answer, who=WHO, credentials=CREDENTIALS, not_ready=not ready)
        return RetryLater(outcome.reason, _NOT_YET_SECONDS) if isinstance(outcome, RetryLater) else outcome
    if not isinstance(answer, JsonAnswer):
        return answer
    link = _link(answer.data)
    if link is None:
        message = _message(answer.data)
        if not ready:
            return RetryLater(f"Zadarma has no recording for the call yet ({message})", _NOT_YET_SECONDS)
        return Failed(f"Zadarma gave no recording for the call ({message})")
    got = await download(ctx, Request(link), dest, who=WHO)
    if isinstance(got, Refused):
        # The link was made a moment ago; the next attempt asks for a new one.
        return RetryLater(f"Zadarma refused its own fresh link (HTTP {got.status})")
    return got


def _link(data: Any) -> str | None:
    if not isinstance(data, dict) or data.get("status") != "success":
        return None
    link = data.get("link")
    if isinstance(link, str) and link:
        return link
    links = data.get("links")
    if isinstance(links, list):
        return next((item for item in links if isinstance(item, str) and item), None)
    return None


def _message(data: Any) -> str:
    message = data.get("message") if isinstance(data, dict) else None
    return " ".join(str(message).split())[:200] if message else "no link in its answer"
