"""Simulated visitors and their calls against a clinic's pool, to measure attribution against the truth.

Visitors arrive as a Poisson stream during the site's busy hours of each day. Each opens a session
through the public endpoint (``POST /t/v1/session``), heartbeats every ``heartbeat_seconds`` while the
page is open (``POST /t/v1/heartbeat``), and leaves after a visit of random length (log-normal). A few
are bots that never heartbeat. Some visitors call: while the page is open, after leaving the same day,
or days later from the number saved in their phone; some of those who called call again days later from
the same number. Every call is recorded through the call pipeline as the PBX would hand it over, and its
``source`` is compared with the truth: the session that was shown the number the visitor dialled.

The app's clock (``app[CLOCK]``) is moved to each request's moment, so days of traffic take seconds.
The plan is pure (``plan``) and seeded: the same seed gives the same visitors and calls.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from calltracking.erlang import offered_load, servers_for
from kolokol.app_keys import SESSIONS, SETTINGS
from kolokol.auth.tokens import create_token
from kolokol.calls.wiring import make_pipeline
from kolokol.storage.tables import VisitorSession
from pbx.call_record import PbxCallRecord
from tests.support.clock import Clock

SITE = "clinic-main"
ORIGIN = "https://clinic.example"
CLINIC = "+74951110001"
FALLBACK = "+74951119999"
START = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
BUSY_FROM = timedelta(hours=9)
# What "the right source" compares: the fields reports group by, down to the campaign.
SOURCE_KEY = ("channel", "source", "medium", "campaign")

# What brings visitors (the URL they land on, the page they came from): the channel does not change how
# calls are attributed, but the stored source must be the visitor's.
ENTRANCES: tuple[tuple[float, str, str | None], ...] = (
    (0.4, "https://clinic.example/implants?utm_source=yandex&utm_medium=cpc&utm_campaign=implants", None),
    (0.3, "https://clinic.example/", "https://www.google.com/"),
    (0.2, "https://clinic.example/", None),
    (0.1, "https://clinic.example/prices", "https://prodoctorov.ru/moskva/"),
)


@dataclass(frozen=True)
class Traffic:
    seed: int = 1
    days: int = 3
    hours_per_day: float = 6.0
    visits_per_hour: float = 36.0
    mean_visit_seconds: float = 180.0
    hold_seconds: int = 300
    heartbeat_seconds: int = 30
    bot_share: float = 0.05
    # What a visitor does (shares of human visitors; one of the three at most).
    call_during_visit: float = 0.08
    call_later_same_day: float = 0.02
    call_days_later: float = 0.01
    mean_late_minutes: float = 40.0
    # Of those who called, the share who call again days later from the same number.
    call_again: float = 0.3
    # How many days after the visit a saved number is dialled, and after the first call the second.
    saved_days: tuple[float, float] = (1.0, 6.0)
    again_days: tuple[float, float] = (1.0, 5.0)

    def mean_lease_seconds(self) -> float:
        """How long a visitor holds a number on average: the visit, then the hold after the last
        heartbeat (half an interval before leaving, on average); a bot's unconfirmed lease is short."""
        human = self.mean_visit_seconds - self.heartbeat_seconds / 2 + self.hold_seconds
        bot = min(self.hold_seconds, 2 * self.heartbeat_seconds)
        return (1 - self.bot_share) * human + self.bot_share * bot

    def recommended_pool(self, overflow_target: float = 0.01) -> int:
        """Erlang-B's pool size for the busy hours' offered load."""
        load = offered_load(self.visits_per_hour, 3600, self.mean_lease_seconds())
        return servers_for(load, overflow_target)


@dataclass
class Visitor:
    n: int
    arrives: datetime
    leaves: datetime
    bot: bool
    phone: str
    url: str
    referrer: str | None
    calls: list[PlannedCall] = field(default_factory=list)
    # Filled as the simulation runs: the session the page has, the number it shows, who showed it.
    session: str | None = None
    shown: str | None = None
    shown_by: str | None = None


@dataclass
class PlannedCall:
    n: int
    kind: str  # "visit" | "late" | "saved" | "repeat"
    at: datetime
    visitor: Visitor
    again: PlannedCall | None = None  # the first call, for a repeat
    # Filled when it rings: the number dialled and the session that showed it to the visitor.
    dialled: str | None = None
    truth: str | None = None
    outcome: Outcome | None = None


def plan(traffic: Traffic) -> tuple[list[Visitor], list[PlannedCall]]:
    """The visitors and their calls, seeded."""
    rng = random.Random(traffic.seed)  # noqa: S311 - reproducible traffic, not a secret
    visitors: list[Visitor] = []
    calls: list[PlannedCall] = []
    horizon = START + timedelta(days=traffic.days)
    sigma = 1.0
    mu = math.log(traffic.mean_visit_seconds) - sigma * sigma / 2
    for day in range(traffic.days):
        busy = START + timedelta(days=day) + BUSY_FROM
        t = 0.0
        while True:
            t += rng.expovariate(traffic.visits_per_hour / 3600)
            if t >= traffic.hours_per_day * 3600:
                break
            arrives = busy + timedelta(seconds=t)
            bot = rng.random() < traffic.bot_share
            length = 2.0 if bot else min(7200.0, max(5.0, rng.lognormvariate(mu, sigma)))
            url, referrer = _entrance(rng)
            visitor = Visitor(
                len(visitors),
                arrives,
                arrives + timedelta(seconds=length),
                bot,
                f"+7916{len(visitors):07d}",
                url,
                referrer,
            )
            visitors.append(visitor)
            if bot:
                continue
            first = _first_call(rng, traffic, visitor, len(calls))
            if first is None or first.at >= horizon:
                continue
            calls.append(first)
            if rng.random() < traffic.call_again:
                at = first.at + timedelta(days=rng.uniform(*traffic.again_days))
                if at < horizon:
                    calls.append(PlannedCall(len(calls), "repeat", at, visitor, again=first))
    return visitors, calls


def _entrance(rng: random.Random) -> tuple[str, str | None]:
    pick = rng.random()
    for share, url, referrer in ENTRANCES:
        if pick < share:
            return url, referrer
        pick -= share
    return ENTRANCES[-1][1], ENTRANCES[-1][2]


def _first_call(rng: random.Random, traffic: Traffic, visitor: Visitor, n: int) -> PlannedCall | None:
    pick = rng.random()
    visit = (visitor.leaves - visitor.arrives).total_seconds()
    if pick < traffic.call_during_visit:
        if visit < 10:
            return None
        # Not before the page has shown the number and the visitor found it.
        return PlannedCall(n, "visit", visitor.arrives + timedelta(seconds=rng.uniform(10, visit)), visitor)
    pick -= traffic.call_during_visit
    if pick < traffic.call_later_same_day:
        delay = max(60.0, rng.expovariate(1 / (traffic.mean_late_minutes * 60)))
        return PlannedCall(n, "late", visitor.leaves + timedelta(seconds=delay), visitor)
    pick -= traffic.call_later_same_day
    if pick < traffic.call_days_later:
        return PlannedCall(
            n, "saved", visitor.leaves + timedelta(days=rng.uniform(*traffic.saved_days)), visitor
        )
    return None


# --- running it against the app ---------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    kind: str
    truth: str | None
    source: dict[str, Any]
    # A repeat call's first call.
    first: Outcome | None = None
    # The true session's channel, source, medium and campaign (filled when the simulation ends).
    truth_source: tuple[str | None, ...] | None = None

    @property
    def right(self) -> bool:
        return self.source.get("session") == self.truth

    @property
    def source_right(self) -> bool:
        """The right advertising even if not the right session: what a report by source counts."""
        if self.truth_source is None:
            return False
        return tuple(self.source.get(name) for name in SOURCE_KEY) == self.truth_source


@dataclass
class Results:
    traffic: Traffic
    pool_size: int
    visitors: int
    opens: int = 0
    overflows: int = 0
    requests: int = 0
    # Answers other than 200 (and a heartbeat's 404): the page kept what it showed, as the snippet does.
    refused: Counter[int] = field(default_factory=Counter)
    outcomes: list[Outcome] = field(default_factory=list)

    def accuracy(self, kind: str | None = None) -> float:
        chosen = [o for o in self.outcomes if kind is None or o.kind == kind]
        return sum(o.right for o in chosen) / len(chosen) if chosen else float("nan")

    def count(self, kind: str | None = None) -> int:
        return sum(1 for o in self.outcomes if kind is None or o.kind == kind)

    def ambiguous(self) -> int:
        return sum(1 for o in self.outcomes if o.source.get("ambiguous"))

    def flagged_share(self) -> float:
        """The share of calls flagged ambiguous (left out of exports by default)."""
        return self.ambiguous() / len(self.outcomes) if self.outcomes else float("nan")

    def source_accuracy(self, kind: str | None = None) -> float:
        """The share of calls given the right channel, source, medium and campaign, whichever session."""
        chosen = [o for o in self.outcomes if kind is None or o.kind == kind]
        return sum(o.source_right for o in chosen) / len(chosen) if chosen else float("nan")

    def sure_wrong(self) -> Counter[str]:
        """Calls not flagged ambiguous yet wrong, by main reason."""
        return Counter(
            o.source["reasons"][0] for o in self.outcomes if not o.source.get("ambiguous") and not o.right
        )

    def sure_accuracy(self) -> float:
        """Of the calls attribution named without flagging them ambiguous (what exports send by default),
        the share it got right: how far a marketer can trust a named source."""
        sure = [o for o in self.outcomes if not o.source.get("ambiguous")]
        return sum(o.right for o in sure) / len(sure) if sure else float("nan")

    def brier(self) -> float:
        """Mean squared gap between each call's confidence and whether its session was right."""
        if not self.outcomes:
            return float("nan")
        return sum((float(o.source["confidence"]) - o.right) ** 2 for o in self.outcomes) / len(self.outcomes)

    def reasons(self) -> Counter[str]:
        return Counter(o.source["reasons"][0] for o in self.outcomes)


def pool_numbers(size: int) -> list[str]:
    return [f"+7495222{n:04d}" for n in range(size)]


async def set_up_site(
    app: web.Application, client: TestClient[Any, Any], traffic: Traffic, pool_size: int
) -> None:
    """The site and its pool, through the marketers' REST API."""
    async with app[SESSIONS].begin() as db:
        token = await create_token(db, name="harness", role="marketer")
    body = {
        "origins": [ORIGIN],
        "hold_seconds": traffic.hold_seconds,
        "heartbeat_seconds": traffic.heartbeat_seconds,
        "pools": [
            {"name": "center", "replaces": [CLINIC], "numbers": pool_numbers(pool_size), "fallback": FALLBACK}
        ],
    }
    async with client.put(
        f"/api/tracking/sites/{SITE}", json=body, headers={"Authorization": f"Bearer {token}"}
    ) as resp:
        assert resp.status in (200, 201), await resp.text()


async def simulate(
    app: web.Application, client: TestClient[Any, Any], clock: Clock, traffic: Traffic, pool_size: int
) -> Results:
    """Run the plan through the public endpoints and the call pipeline; the outcome of every call."""
    await set_up_site(app, client, traffic, pool_size)
    visitors, calls = plan(traffic)
    results = Results(traffic, pool_size, len(visitors))
    pipeline = make_pipeline(app[SETTINGS], app[SESSIONS])
    queue: list[tuple[datetime, int, str, Any]] = []
    order = 0

    def push(at: datetime, what: str, item: Any) -> None:
        nonlocal order
        order += 1
        heapq.heappush(queue, (at, order, what, item))

    beat = timedelta(seconds=traffic.heartbeat_seconds)
    for visitor in visitors:
        push(visitor.arrives, "open", visitor)
        if not visitor.bot:
            at = visitor.arrives + beat
            while at < visitor.leaves:
                push(at, "beat", visitor)
                at += beat
    for call in calls:
        push(call.at, "call", call)
    while queue:
        at, _, what, item = heapq.heappop(queue)
        clock.now = at
        if what == "open":
            await _open(client, item, results)
        elif what == "beat":
            await _beat(client, item, results)
        else:
            results.outcomes.append(await _call(pipeline, item))
    await _fill_truth_sources(app, results)
    return results


async def _fill_truth_sources(app: web.Application, results: Results) -> None:
    truths = {o.truth for o in results.outcomes if o.truth is not None}
    columns = [getattr(VisitorSession, name) for name in SOURCE_KEY]
    async with app[SESSIONS]() as db:
        rows = (
            await db.execute(select(VisitorSession.id, *columns).where(VisitorSession.id.in_(truths)))
        ).all()
    sources = {row[0]: tuple(row[1:]) for row in rows}
    results.outcomes = [replace(o, truth_source=sources.get(o.truth or "")) for o in results.outcomes]


async def _post(
    client: TestClient[Any, Any], path: str, body: dict[str, Any], results: Results
) -> tuple[int, Any]:
    results.requests += 1
    headers = {"Content-Type": "text/plain", "Origin": ORIGIN}
    async with client.post(path, data=json.dumps(body), headers=headers) as resp:
        return resp.status, await resp.json()


async def _open(client: TestClient[Any, Any], visitor: Visitor, results: Results) -> None:
    body = {
        "site": SITE,
        "session": visitor.session,
        "url": visitor.url,
        "referrer": visitor.referrer,
        "ga": None,
        "ym": None,
        "consent": True,
    }
    status, answer = await _post(client, "/t/v1/session", body, results)
    if status != 200:
        results.refused[status] += 1
        return
    results.opens += 1
    visitor.session = answer["session"]
    _show(visitor, answer["numbers"].get(CLINIC, CLINIC), results)


async def _beat(client: TestClient[Any, Any], visitor: Visitor, results: Results) -> None:
    status, answer = await _post(
        client, "/t/v1/heartbeat", {"site": SITE, "session": visitor.session}, results
    )
    if status == 404:
        # The session ran out: the page opens a new one, as the snippet does.
        visitor.session = None
        await _open(client, visitor, results)
        return
    if status != 200:
        results.refused[status] += 1
        return
    _show(visitor, answer["numbers"].get(CLINIC, CLINIC), results, counted=False)


def _show(visitor: Visitor, number: str, results: Results, *, counted: bool = True) -> None:
    if counted and number == FALLBACK:
        results.overflows += 1
    visitor.shown = number
    visitor.shown_by = visitor.session


async def _call(pipeline: Any, call: PlannedCall) -> Outcome:
    visitor = call.visitor
    if call.again is not None:
        call.dialled, call.truth = call.again.dialled, call.again.truth
    else:
        call.dialled, call.truth = visitor.shown, visitor.shown_by
    if call.dialled is None:
        # The page never got a number: the visitor dialled the clinic's own.
        call.dialled = CLINIC
    record = PbxCallRecord(
        pbx="harness",
        pbx_call_id=f"call-{call.n}",
        direction="inbound",
        caller=visitor.phone,
        caller_name=None,
        called=call.dialled,
        status="answered",
        disposition="answered",
        missed_where=None,
        operator="101",
        answered_by="101",
        rang=("101",),
        transfers=(),
        started_at=call.at,
        answered_at=call.at + timedelta(seconds=5),
        ended_at=call.at + timedelta(seconds=90),
    )
    stored = await pipeline.record(record)
    assert stored.source is not None
    first = call.again.outcome if call.again is not None else None
    call.outcome = Outcome(call.kind, call.truth, dict(stored.source), first)
    return call.outcome


def summary(results: Results) -> list[str]:
    """What the bench prints and a failing test shows."""
    sure_wrong = ", ".join(f"{reason} {n}" for reason, n in results.sure_wrong().most_common()) or "none"
    lines = [
        f"pool {results.pool_size} numbers; {results.visitors} visitors, {results.opens} sessions opened, "
        f"{results.overflows} shown the fallback ({results.overflows / max(1, results.opens):.1%}); "
        f"{results.requests} requests, refused: {dict(results.refused) or 'none'}",
        f"calls {results.count()}: right session {results.accuracy():.1%}, right source "
        f"{results.source_accuracy():.1%}, Brier {results.brier():.3f}",
        f"calls during the visit {results.count('visit')}: right session {results.accuracy('visit'):.1%}",
        f"flagged ambiguous {results.ambiguous()} ({results.flagged_share():.1%}); "
        f"not flagged {results.count() - results.ambiguous()}: right session {results.sure_accuracy():.1%}; "
        f"wrong among them by main reason: {sure_wrong}",
    ]
    for kind in ("visit", "late", "saved", "repeat"):
        if results.count(kind):
            lines.append(
                f"  {kind:<7} {results.count(kind):>5} calls, right session {results.accuracy(kind):.1%}, "
                f"right source {results.source_accuracy(kind):.1%}"
            )
    lines.append("by main reason: calls, right, mean confidence")
    for reason, count in results.reasons().most_common():
        chosen = [o for o in results.outcomes if o.source["reasons"][0] == reason]
        right = sum(o.right for o in chosen) / count
        confidence = sum(o.source["confidence"] for o in chosen) / count
        lines.append(f"  {reason:<18} {count:>5} calls, right {right:.1%}, confidence {confidence:.2f}")
    return lines
