"""The test tree's one rule about sharing: what tests share lives in tests/support, never in a test module
or a conftest, so moving or deleting a test module never breaks another."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.paths import REPO

TESTS = REPO / "tests"


def _is_test_module(dotted: str) -> bool:
    parts = dotted.split(".")
    return parts[0] == "tests" and any(p.startswith("test_") or p == "conftest" for p in parts[1:])


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every module this file imports (and, for ``from x import y``, x.y too: y may be a module)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def test_no_test_module_or_conftest_is_imported_by_another_file() -> None:
    offenders = sorted(
        f"{path.relative_to(REPO)}:{line} imports {module}"
        for path in TESTS.rglob("*.py")
        for line, module in imported_modules(path)
        if _is_test_module(module)
    )
    assert offenders == [], "move shared builders into tests/support:\n" + "\n".join(offenders)


def test_the_check_sees_both_import_forms(tmp_path: Path) -> None:
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "from tests.integration.webhooks import test_zadarma as z\n"
        "import tests.unit.test_phones\n"
        "from tests.conftest import PG_URL\n"
        "from tests.support.webhooks import Hook\n"
    )
    assert [m for _, m in imported_modules(sample) if _is_test_module(m)] == [
        "tests.integration.webhooks.test_zadarma",
        "tests.unit.test_phones",
        "tests.conftest",
        "tests.conftest.PG_URL",
    ]
