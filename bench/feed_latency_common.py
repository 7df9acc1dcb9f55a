"""What every part of the feed benchmark shares: the repository, the extension rung, the AMI login and
the error that marks a run as broken."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXTENSION = "101"
AMI_USERNAME = "kolokol"


class BrokenRun(Exception):
    """The measurement cannot be trusted (a process died, messages went missing)."""
