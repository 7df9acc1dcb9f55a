"""The recording job's rules (pure): what a step's outcome does to the row, backoff with jitter, and when
to give up.

A row is ``pending`` while the worker has something to do (stage ``acquire`` then ``process``), and ends
``ready`` or ``failed`` (stage ``done``). A transient trouble (``RetryLater``) is tried again after a delay
that doubles with each attempt (jittered, so that rows that failed together do not come back together),
until the origin's deadline: the Asterisk file timeout after the call's end, or ``fetch_give_up_hours``
after the row was planned for a cloud PBX. Then the row fails with the last reason, in words a manager can
read. Processing a file that came in is retried a few times only (a crashed transcoder, a full disk):
what ffmpeg cannot read is ``Failed`` at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from recordings.outcomes import Failed, RetryLater
from recordings.planning import ASTERISK

PENDING, READY, FAILED, PURGED = "pending", "ready", "failed", "purged"
ACQUIRE, PROCESS, DONE = "acquire", "process", "done"


@dataclass(frozen=True)
class Policy:
    asterisk_timeout: timedelta
    fetch_give_up: timedelta
    process_attempts: int = 5
    first_delay_seconds: float = 5.0
    max_delay_seconds: float = 3600.0
    # Each delay is spread over ±jitter of itself.
    jitter: float = 0.25


@dataclass(frozen=True)
class JobFacts:
    """What the rules read from a claimed row and its call."""

    origin: str
    stage: str
    attempts: int
    created_at: datetime
    call_ended_at: datetime


@dataclass(frozen=True)
class Next:
    """What to write on the row after a step."""

    status: str
    stage: str
    attempts: int
    next_attempt_at: datetime
    failure: str | None = None


def deadline(job: JobFacts, policy: Policy) -> datetime:
    """Until when a transient trouble is retried."""
    if job.origin == ASTERISK:
        return job.call_ended_at + policy.asterisk_timeout
    return job.created_at + policy.fetch_give_up


def backoff_seconds(attempts: int, policy: Policy, rand: float) -> float:
    """The delay after the ``attempts``-th failed try (1, 2, …); ``rand`` in [0, 1) spreads it."""
    exponent = min(max(attempts - 1, 0), 30)
    delay = min(policy.first_delay_seconds * float(2**exponent), policy.max_delay_seconds)
    return delay * (1 - policy.jitter + 2 * policy.jitter * rand)


def acquired(now: datetime) -> Next:
    """The original is in: process it at once."""
    return Next(PENDING, PROCESS, 0, now)


def processed(now: datetime) -> Next:
    return Next(READY, DONE, 0, now)


def failed(job: JobFacts, outcome: Failed, now: datetime) -> Next:
    return Next(FAILED, DONE, job.attempts + 1, now, _sentence(outcome.reason))


def retry(job: JobFacts, outcome: RetryLater, now: datetime, policy: Policy, rand: float) -> Next:
    """Try again later, or give up when the deadline (acquire) or the attempts (process) are spent."""
    attempts = job.attempts + 1
    reason = _clean(outcome.reason)
    if job.stage == PROCESS:
        if attempts >= policy.process_attempts:
            return Next(FAILED, DONE, attempts, now, f"Processing failed {attempts} times: {reason}")
        return Next(
            PENDING, PROCESS, attempts, now + timedelta(seconds=backoff_seconds(attempts, policy, rand))
        )
    until = deadline(job, policy)
    if now >= until:
        return Next(FAILED, DONE, attempts, now, f"Gave up after {_span(until - job_start(job))}: {reason}")
    after = (
        outcome.after_seconds
        if outcome.after_seconds is not None and outcome.after_seconds >= 0
        else backoff_seconds(attempts, policy, rand)
    )
    # The last try comes at the deadline, not a backoff's length after it.
    return Next(PENDING, job.stage, attempts, min(now + timedelta(seconds=after), until))


def job_start(job: JobFacts) -> datetime:
    return job.call_ended_at if job.origin == ASTERISK else job.created_at


def _clean(reason: str) -> str:
    return " ".join(reason.split()) or "no reason given"


def _sentence(reason: str) -> str:
    reason = _clean(reason)
    return reason[:1].upper() + reason[1:]


def _span(span: timedelta) -> str:
    seconds = max(0, round(span.total_seconds()))
    if seconds < 120:
        return f"{seconds} seconds"
    if seconds < 2 * 3600:
        return f"{round(seconds / 60)} minutes"
    return f"{round(seconds / 3600)} hours"
