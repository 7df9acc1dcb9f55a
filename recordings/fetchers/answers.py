"""What a provider's HTTP answer means for the recording: retry later, or give up with a reason a
manager can read. Pure: statuses and header values in, outcomes out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime

from recordings.outcomes import Failed, Outcome, RetryLater

# The longest wait a Retry-After header may ask for (a broken proxy saying "a year").
_MAX_RETRY_AFTER = 24 * 3600.0


@dataclass(frozen=True)
class Refused:
    """A final 4xx answer: the provider module knows what it means (bad key, not there yet, gone)."""

    status: int
    detail: str = ""  # the provider's own message, when it gave one


def transient(status: int) -> bool:
    """Answers that change by themselves: overload, rate limits, gateway trouble."""
    return status >= 500 or status in (408, 425, 429)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date; None when absent or unusable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return min(float(text), _MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(max((when - now).total_seconds(), 0.0), _MAX_RETRY_AFTER)


def busy(who: str, status: int, retry_after: float | None) -> RetryLater:
    what = "is limiting requests" if status == 429 else f"answered HTTP {status}"
    return RetryLater(f"{who} {what}; kolokol will try again", retry_after)


def read_refusal(
    refused: Refused,
    *,
    who: str,
    credentials: str,
    not_ready: bool = False,
) -> Outcome:
    """The usual reading of a refusal.

    ``credentials`` names the settings to check after 401/403; ``not_ready`` says the provider documents
    404 as "not there yet" for this recording (then it is retried until fetch_give_up_hours)."""
    detail = f" ({refused.detail})" if refused.detail else ""
    if refused.status in (401, 403):
        return Failed(f"{who} refused kolokol's credentials{detail}: check {credentials}")
    if refused.status in (404, 410):
        if not_ready:
            return RetryLater(f"{who} does not have the recording yet{detail}")
        return Failed(f"{who} says the recording is not there (HTTP {refused.status}){detail}")
    return Failed(f"{who} rejected the request (HTTP {refused.status}){detail}")
