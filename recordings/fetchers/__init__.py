"""Cloud PBX recordings: each provider's reference (what its webhooks stored in ``recording_ref``)
fetched into one file, with an outcome the worker acts on (Done, RetryLater, Failed)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from kolokol.settings import Settings
from recordings.fetchers import generic, mango_office, megafon_vats, telnyx, twilio, zadarma
from recordings.fetchers.download import Fetching, FetchLimits
from recordings.outcomes import Failed, Outcome

__all__ = ["PROVIDERS", "FetchLimits", "fetch"]

Fetcher = Callable[[Mapping[str, Any], Path, Fetching], Awaitable[Outcome]]

PROVIDERS: Mapping[str, Fetcher] = {
    "mango_office": mango_office.fetch,
    "zadarma": zadarma.fetch,
    "megafon_vats": megafon_vats.fetch,
    "twilio": twilio.fetch,
    "telnyx": telnyx.fetch,
    "generic": generic.fetch,
}


async def fetch(
    ref: Mapping[str, Any],
    dest: Path,
    *,
    settings: Settings,
    http: aiohttp.ClientSession,
    now: datetime,
    limits: FetchLimits,
) -> Outcome:
    """Fetch the recording ``ref`` names into ``dest`` (its directory exists; nothing else is written)."""
    provider = ref.get("provider")
    fetcher = PROVIDERS.get(provider) if isinstance(provider, str) else None
    if fetcher is None:
        return Failed(f"kolokol cannot fetch recordings from {provider!r}")
    return await fetcher(ref, dest, Fetching(settings, http, now, limits))
