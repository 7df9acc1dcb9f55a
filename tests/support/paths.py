"""Where the repository's files are, for tests wherever they sit in the tree."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
AMI_CAPTURES = REPO / "tests" / "fixtures" / "ami"
