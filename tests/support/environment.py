"""The environment for a kolokol command run by a test in its own process: nothing from the caller's
shell (no KOLOKOL_* variable) and a home of its own, so a kolokol.toml kept in the checkout, or a
developer's settings, never configure a test."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from functools import cache
from pathlib import Path


@cache
def _empty_home() -> Path:
    home = Path(tempfile.mkdtemp(prefix="kolokol-test-home-"))
    atexit.register(shutil.rmtree, home, ignore_errors=True)
    return home


def kolokol_environment(home: Path | None = None, **settings: str) -> dict[str, str]:
    """`settings` are KOLOKOL_* variables, e.g. KOLOKOL_DATABASE__URL="..."; `home`: an empty one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KOLOKOL_")}
    env["KOLOKOL_HOME"] = str(home or _empty_home())
    env.update(settings)
    return env
