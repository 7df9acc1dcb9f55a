"""Pool health from lease history: peak occupancy per hour, overflow share, busy-hour sizing by Erlang-B and
the sentence a marketer reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from calltracking.erlang import servers_for
from calltracking.pool_health import LeaseSpan, PoolFacts, Window, pool_health

MOSCOW = ZoneInfo("Europe/Moscow")
START = datetime(2026, 11, 1, tzinfo=UTC)
WINDOW = Window(start=START, end=START + timedelta(days=10), now=START + timedelta(days=10), zone=MOSCOW)


def facts(size: int, quarantined: int = 0) -> PoolFacts:
    return PoolFacts(1, "center", None, None, "+74951110001", size, quarantined, 0)


def steady(days: int, per_hour: int, seconds: float, *, hour: int = 9) -> list[LeaseSpan]:
    """`per_hour` leases of `seconds` in one clock hour a day, spread evenly."""
    spans = []
    for day in range(days):
        begin = START + timedelta(days=day, hours=hour)
        for i in range(per_hour):
            at = begin + timedelta(seconds=3600 * i / per_hour)
            spans.append(LeaseSpan(at, at + timedelta(seconds=seconds), overflow=False))
    return spans


def test_a_busy_hour_needing_more_numbers_says_how_many_to_add() -> None:
    # 60 visitors in the 09:00 hour, 5 minutes each: 5 erlangs.
    leases = steady(10, 60, 300)
    health = pool_health(facts(6), leases, WINDOW, 0.01)
    needed = servers_for(5.0, 0.01)
    assert needed == 11
    assert health["peak"]["offered_load"] == 5.0
    assert health["recommended_size"] == needed
    assert (health["verdict"], health["add"]) == ("add-numbers", 5)
    assert health["advice"]["en"].startswith("Add 5 numbers:")
    assert health["advice"]["ru"].startswith("Добавьте 5 номеров:")
    assert health["leases"] == 600 and health["mean_lease_seconds"] == 300.0
    assert [h["local_start"][11:16] for h in health["peak"]["hours"]] == ["12:00"] * 5


def test_a_quiet_pool_is_large_enough_and_one_more_number_reads_right_in_russian() -> None:
    health = pool_health(facts(12), steady(10, 60, 300), WINDOW, 0.01)
    assert (health["verdict"], health["add"]) == ("large-enough", 0)
    assert health["advice"]["en"].startswith("The pool is large enough")
    assert health["advice"]["ru"].startswith("Номеров достаточно")
    one = pool_health(facts(10), steady(10, 60, 300), WINDOW, 0.01)
    assert one["advice"]["ru"].startswith("Добавьте 1 номер:")
    assert one["advice"]["en"].startswith("Add 1 number:")


def test_sizing_follows_the_busiest_days_not_the_average() -> None:
    # Nine quiet days and one ad burst: 5 busiest days' peak hours, so the burst counts one fifth.
    leases = steady(9, 12, 300) + [
        LeaseSpan(s.started_at + timedelta(days=9), s.ends_at + timedelta(days=9), False)
        for s in steady(1, 120, 300)
    ]
    health = pool_health(facts(4), leases, WINDOW, 0.01)
    assert health["peak"]["offered_load"] == (10.0 + 4 * 1.0) / 5
    assert health["peak"]["hours"][0]["arrivals"] == 120


def test_too_little_traffic_is_said_plainly() -> None:
    health = pool_health(facts(5), steady(2, 30, 300), WINDOW, 0.01)
    assert (health["verdict"], health["recommended_size"]) == ("not-enough-traffic", None)
    assert health["advice"]["en"].startswith("Not enough traffic yet to size the pool: 60 visitors on 2 days")
    assert health["advice"]["ru"].startswith("Пока мало трафика")


def test_occupancy_is_the_peak_held_at_once_per_hour_and_overflows_are_counted() -> None:
    at = START + timedelta(hours=5)
    leases = [
        LeaseSpan(at, at + timedelta(minutes=20), False),
        LeaseSpan(at + timedelta(minutes=10), at + timedelta(minutes=70), False),
        LeaseSpan(at + timedelta(minutes=20), at + timedelta(minutes=30), False),  # begins as the first ends
        LeaseSpan(at + timedelta(minutes=15), at + timedelta(minutes=20), True),
    ]
    health = pool_health(facts(2), leases, WINDOW, 0.01)
    points = {p["start"]: p for p in health["occupancy"]["points"]}
    assert health["occupancy"]["interval"] == "hour"
    assert len(points) == 240
    assert points["2026-11-01T05:00:00Z"] == {
        "start": "2026-11-01T05:00:00Z",
        "peak_leased": 2,
        "overflows": 1,
    }
    assert points["2026-11-01T06:00:00Z"]["peak_leased"] == 1
    assert points["2026-11-01T07:00:00Z"]["peak_leased"] == 0
    assert (health["overflows"], health["overflow_share"]) == (1, 0.25)


def test_a_long_window_is_drawn_day_by_day_in_local_days() -> None:
    window = Window(START, START + timedelta(days=60), START + timedelta(days=60), MOSCOW)
    health = pool_health(facts(2), [], window, 0.01)
    points = health["occupancy"]["points"]
    assert health["occupancy"]["interval"] == "day"
    # Local midnights: 21:00 UTC the day before.
    assert points[1]["start"] == "2026-11-01T21:00:00Z"
    assert health["overflow_share"] is None and health["mean_lease_seconds"] is None
