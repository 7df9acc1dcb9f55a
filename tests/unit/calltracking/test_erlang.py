"""Erlang-B against the published traffic tables, and the pool sizes a clinic site would be told."""

from __future__ import annotations

import pytest

from calltracking.erlang import blocking, offered_load, servers_for

# Erlangs that N servers carry at 1% blocking, from the standard Erlang-B tables.
ONE_PERCENT = [(1, 0.0101), (2, 0.1526), (5, 1.3608), (10, 4.4612), (20, 12.031), (50, 37.901), (100, 84.064)]


@pytest.mark.parametrize(("servers", "load"), ONE_PERCENT)
def test_the_table_loads_block_one_percent(servers: int, load: float) -> None:
    assert blocking(load, servers) == pytest.approx(0.01, rel=2e-3)


@pytest.mark.parametrize(("servers", "load"), ONE_PERCENT)
def test_the_table_load_needs_exactly_the_table_size(servers: int, load: float) -> None:
    # Just under the table's load that many numbers suffice; a little more load needs one more.
    assert servers_for(load * 0.999, 0.01) == servers
    assert servers_for(load * 1.01, 0.01) == servers + 1


def test_two_percent_column_and_a_known_value() -> None:
    assert blocking(5.084, 10) == pytest.approx(0.02, rel=2e-3)
    assert blocking(5.0, 10) == pytest.approx(0.018385, rel=1e-4)


def test_the_research_examples_for_a_300_visit_a_day_site() -> None:
    # 0.6 visits a minute at the peak, held 3 min of browsing + the hold after the last heartbeat.
    assert servers_for(3.3, 0.01) == 9
    assert servers_for(4.8, 0.01) == 11
    assert servers_for(13.8, 0.01) == 23
    assert servers_for(19.8, 0.01) == 30


def test_huge_loads_stay_finite_and_accurate() -> None:
    # A^N / N! would overflow a float long before this.
    b = blocking(1000.0, 1000)
    assert 0.02 < b < 0.03
    assert servers_for(1000.0, 0.01) > 1000


def test_edges() -> None:
    assert blocking(0.0, 0) == 1.0
    assert blocking(3.0, 0) == 1.0
    assert blocking(0.0, 5) == 0.0
    assert servers_for(0.0, 0.01) == 0
    assert offered_load(36, 3600, 300) == pytest.approx(3.0)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite, non-negative"):
            blocking(bad, 3)
    with pytest.raises(ValueError, match="between 0 and 1"):
        servers_for(1.0, 0.0)
    with pytest.raises(ValueError, match="positive"):
        offered_load(1, 0, 10)
