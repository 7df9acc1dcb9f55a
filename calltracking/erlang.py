"""Erlang-B: how many numbers a pool needs so that few visitors find every number taken.

A pool is a loss system: visitors arrive, each holds a number for a while (the lease), and a visitor who
finds every number leased is not queued but shown the fallback (an overflow). With Poisson arrivals the
share of visitors lost is Erlang's B formula for the offered load A (arrivals per unit of time × mean
holding time, in erlangs) and N numbers; it holds for any distribution of holding times.

Pure arithmetic, no I/O.
"""

from __future__ import annotations

import math

# A pool this large is far beyond any website; the search for a size stops here instead of looping on
# absurd loads.
MAX_SERVERS = 10_000


def blocking(load: float, servers: int) -> float:
    """The share of arrivals that find all `servers` busy under `load` erlangs (Erlang B).

    The recursion B(0) = 1, B(n) = A·B(n−1) / (n + A·B(n−1)) stays within [0, 1] at every step, so it
    neither overflows nor loses precision the way A^N / N! over a sum of such terms does.
    """
    _check_load(load)
    if servers < 0:
        raise ValueError("servers must not be negative")
    b = 1.0
    for n in range(1, servers + 1):
        ab = load * b
        b = ab / (n + ab)
    return b


def servers_for(load: float, target: float) -> int:
    """The fewest servers whose blocking under `load` is at most `target` (0 < target < 1)."""
    _check_load(load)
    if not 0 < target < 1:
        raise ValueError("target must be between 0 and 1")
    if load == 0:
        # No visitors, nobody to turn away.
        return 0
    b = 1.0
    n = 0
    while b > target:
        n += 1
        if n > MAX_SERVERS:
            raise ValueError(f"more than {MAX_SERVERS} servers would be needed")
        ab = load * b
        b = ab / (n + ab)
    return n


def offered_load(arrivals: float, period_seconds: float, mean_holding_seconds: float) -> float:
    """Erlangs offered by `arrivals` within `period_seconds`, each held `mean_holding_seconds` on average."""
    if period_seconds <= 0:
        raise ValueError("the period must be positive")
    if arrivals < 0 or mean_holding_seconds < 0:
        raise ValueError("arrivals and holding time must not be negative")
    return arrivals / period_seconds * mean_holding_seconds


def _check_load(load: float) -> None:
    if load < 0 or not math.isfinite(load):
        raise ValueError("the load must be a finite, non-negative number of erlangs")
