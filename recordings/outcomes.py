"""What one acquire or process step of a recording came to (the worker decides what follows)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Done:
    """The step produced its file (acquire: the original in the storage's incoming area)."""

    path: Path
    mime_hint: str | None = None


@dataclass(frozen=True)
class RetryLater:
    """A transient trouble (5xx, timeout, file still growing): try again, after_seconds or by backoff."""

    reason: str
    after_seconds: float | None = None


@dataclass(frozen=True)
class Failed:
    """A permanent trouble (gone, not audio, oversized): the recording fails with this reason."""

    reason: str


Outcome = Done | RetryLater | Failed
