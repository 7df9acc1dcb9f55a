"""MegaFon VPBX (ITooLabs): the call history's ``link`` is an absolute URL on the clinic's own
``*.megapbx.ru`` domain, downloaded with the VPBX API key in ``X-API-KEY`` when one is set."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from recordings.fetchers.answers import Refused, read_refusal
from recordings.fetchers.download import Fetching, Request, download
from recordings.outcomes import Failed, Outcome

WHO = "MegaFon VPBX"


async def fetch(ref: Mapping[str, Any], dest: Path, ctx: Fetching) -> Outcome:
    url = ref.get("url")
    if not isinstance(url, str) or not url:
        return Failed("the MegaFon VPBX reference has no link to the recording")
    config = ctx.settings.pbx.megafon_vats
    key = config.api_key if config is not None else None
    headers = {"X-API-KEY": key.get_secret_value()} if key is not None else {}
    got = await download(ctx, Request(url, headers=headers), dest, who=WHO)
    if not isinstance(got, Refused):
        return got
    credentials = (
        "pbx.megafon_vats.api_key (the VPBX API key, not crm_token)"
        if key is not None
        else "pbx.megafon_vats.api_key: the VPBX asks for its API key and none is set"
    )
    return read_refusal(got, who=WHO, credentials=credentials)
