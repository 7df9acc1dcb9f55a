"""``--shuffle SEED``: run each module's tests in an order shuffled with SEED, to show that no test
depends on another having run first. Modules keep their order and stay together, so module-scoped
fixtures (the real Asterisk) start once per module as usual. ``--shuffle random`` picks the seed and
prints it, so a failing order can be run again."""

from __future__ import annotations

import random

import pytest

_SEED = pytest.StashKey[str]()


def add_option(parser: pytest.Parser) -> None:
    parser.addoption(
        "--shuffle",
        metavar="SEED",
        default=None,
        help="shuffle the order of the tests within each module with SEED ('random': pick one and print it)",
    )


def chosen_seed(config: pytest.Config) -> str | None:
    if _SEED not in config.stash:
        seed = config.getoption("--shuffle")
        if seed == "random":
            seed = str(random.SystemRandom().randrange(1 << 32))
        config.stash[_SEED] = seed or ""
    return config.stash[_SEED] or None


def shuffled_within_modules(items: list[pytest.Item], seed: str) -> list[pytest.Item]:
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::", 1)[0], []).append(item)
    order = random.Random(seed)  # noqa: S311 - a reproducible test order, not a secret
    out: list[pytest.Item] = []
    for tests in modules.values():
        order.shuffle(tests)
        out += tests
    return out
