"""The daily roll-up's arithmetic: local days across a clock change, target calls at the threshold,
callers as digests, reach delays rounded as kept."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from calltracking.report_days import (
    CallFacts,
    Figures,
    all_reached,
    caller_digest,
    count_callers,
    pack,
    pack_reached,
    roll_up,
    rolled_up_keys,
    rounded_minutes,
    unpack,
)

BERLIN = ZoneInfo("Europe/Berlin")
START = datetime(2026, 10, 24, 22, tzinfo=UTC)  # 25 October 00:00 in Berlin (summer time)
END = datetime(2026, 10, 26, 23, tzinfo=UTC)  # 27 October 00:00 (winter time)


def facts(at: datetime, *, status: str = "answered", talk: float | None = 60.0, **kw: object) -> CallFacts:
    keys = kw.pop("keys", ("paid", "yandex", "cpc", None, None, None, None, None, None))
    return CallFacts(
        started=at.timestamp(),
        caller=str(kw.pop("caller", "+79160000001")),
        status=status,
        first_time_caller=bool(kw.pop("first", False)),
        talk_seconds=talk if status == "answered" else None,
        keys=keys,  # type: ignore[arg-type]
        reached_minutes=kw.pop("reached", None),  # type: ignore[arg-type]
    )


def test_local_days_follow_the_clock_change() -> None:
    calls = [
        facts(datetime(2026, 10, 25, 22, 30, tzinfo=UTC)),  # 25 Oct 23:30 winter time: still the 25th
        facts(datetime(2026, 10, 25, 23, 30, tzinfo=UTC)),  # 26 Oct 00:30
        facts(datetime(2026, 10, 24, 22, 0, tzinfo=UTC)),  # 25 Oct 00:00 summer time
    ]
    days = roll_up(calls, BERLIN, 60, START, END)
    assert {day: groups[("source", "yandex")].calls for day, groups in days.items()} == {
        date(2026, 10, 25): 2,
        date(2026, 10, 26): 1,
    }


def test_figures_per_grouping() -> None:
    calls = [
        facts(START, first=True, talk=60.0),
        facts(START, talk=59.5, caller="+79160000002"),
        facts(START, status="missed", reached=75.4, caller="+79160000002"),
        facts(START, keys=("organic", "google", "organic", None, None, None, None, None, None)),
    ]
    [groups] = roll_up(calls, BERLIN, 60, START, END).values()
    yandex = groups[("source", "yandex")]
    assert (yandex.calls, yandex.first_time_callers, yandex.answered, yandex.missed, yandex.target_calls) == (
        3,
        1,
        2,
        1,
        1,
    )
    assert yandex.callers == {caller_digest("+79160000001"), caller_digest("+79160000002")}
    assert dict(yandex.reached) == {75.0: 1}
    assert groups[("campaign", None)].calls == 4
    assert groups[("channel", "organic")].calls == 1
    assert rolled_up_keys(groups, "source") == {"yandex", "google"}


def test_digests_pack_and_delays_round() -> None:
    digests = {caller_digest("+7916000000" + str(i)) for i in range(10)}
    assert set(unpack(pack(digests))) == digests
    assert caller_digest("+79160000001") != caller_digest("+79160000002")
    assert (rounded_minutes(12.34), rounded_minutes(90.6), rounded_minutes(2000.0)) == (12.3, 91.0, 1980.0)


def test_unique_callers_per_group_and_across_groups() -> None:
    ann, bob, eve = (caller_digest(n) for n in ("+79160000001", "+79160000002", "+79160000003"))
    figures = {
        # Rolled-up days (packed, a caller on two days) and a day counted from its calls.
        "yandex": Figures(packed=[pack({ann, bob}), pack({bob})], callers={ann, eve}),
        "google": Figures(packed=[pack({eve})]),
        None: Figures(callers={bob}),
        "vk": Figures(),
    }
    assert count_callers(figures) == ({"yandex": 3, "google": 1, None: 1, "vk": 0}, 3)
    assert count_callers({}) == ({}, 0)


def test_reach_delays_add_up_across_days() -> None:
    figures = Figures(
        reached_packed=[pack_reached(Counter({12.3: 2, 90.0: 1})), pack_reached(Counter({12.3: 1}))],
        reached=Counter({90.0: 4, 1980.0: 1}),
    )
    assert all_reached(figures) == {12.3: 3, 90.0: 5, 1980.0: 1}
