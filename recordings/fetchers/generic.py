"""kolokol's generic format (and the dialects built on it): ``recording.ready`` gives a plain link,
fetched without credentials before its ``expires_at`` if the PBX gave one."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from recordings.fetchers.answers import Refused, read_refusal
from recordings.fetchers.download import Fetching, Request, download
from recordings.outcomes import Failed, Outcome

WHO = "the PBX"


def expiry(value: Any) -> datetime | None:
    """An ISO 8601 time with its zone; None when absent or unreadable (then the link is just tried)."""
    if not isinstance(value, str) or not value:
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else None


async def fetch(ref: Mapping[str, Any], dest: Path, ctx: Fetching) -> Outcome:
    url = ref.get("url")
    if not isinstance(url, str) or not url:
        named = ref.get("id")
        what = f" (its id is {named})" if named else ""
        return Failed(f"the PBX announced the recording{what} without a link kolokol could fetch")
    expires = expiry(ref.get("expires_at"))
    if expires is not None and ctx.now >= expires:
        return Failed(f"the recording link expired at {expires.isoformat()} before kolokol could fetch it")
    got = await download(ctx, Request(url), dest, who=WHO)
    if isinstance(got, Refused):
        return read_refusal(got, who=WHO, credentials="that the PBX's recording links work without a login")
    return got
