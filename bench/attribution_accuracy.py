"""Attribution accuracy on simulated traffic, at the recommended pool size, at half of it and at double.

The simulation is the attribution harness's (tests/support/attribution_harness.py): visitors arrive as a
Poisson stream in the site's busy hours, open sessions and heartbeat through kolokol's public endpoints
(an app in this process on SQLite, or PostgreSQL with --pg-url, its clock moved to each request's
moment), some call during the visit, later the same day, or days later from the saved number, some call
again; every call goes through the call pipeline and its `source` is compared with the session that
showed the visitor the number they dialled.

The recommended size is Erlang-B's for the busy hours' offered load (arrivals × mean lease time: the
visit, then the hold after the last heartbeat) and a 1% overflow target (calltracking/erlang.py). For each
size it prints the share of visitors shown the fallback and, over the simulated calls:

- right session, all calls: the call's `source.session` is the session that showed the number dialled;
- right session, calls during the visit: the same, for calls made while the caller's page was open;
- right session, calls not flagged ambiguous: the same among calls whose `source.ambiguous` is false
  (what exports send by default: how far a marketer can trust a named source), with the wrong ones
  among them by main reason;
- flagged ambiguous: the share of all calls with `ambiguous` true;
- right source: the call's channel, source, medium and campaign are the true session's, whether or not
  the session is (what a report by source counts; a late caller given another visitor from the same
  campaign is right here);
- the Brier score of the confidences (mean squared gap between confidence and the session being right;
  0 is perfect, 0.25 is a coin flip), and each of these by kind of call and by main reason.

Target: ≥ 98% right among calls not flagged ambiguous at the recommended size (and ≥ 98% of calls during
the visit right).

    .venv/bin/python bench/attribution_accuracy.py [--days 28] [--hours 8] [--visits-per-hour 36]
                                                   [--seed 1] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402

from kolokol.app import make_app  # noqa: E402
from kolokol.app_keys import CLOCK  # noqa: E402
from kolokol.settings import Settings  # noqa: E402
from tests.support.attribution_harness import Results, Traffic, simulate, summary  # noqa: E402
from tests.support.clock import Clock  # noqa: E402
from tests.support.databases import reset_if_postgres  # noqa: E402


async def run(traffic: Traffic, pool_size: int, url: str) -> Results:
    await reset_if_postgres(url)
    settings = Settings.model_validate(
        {
            "database": {"url": url},
            "feed": {"port": 0},
            "tracking": {"public_requests_per_minute": 100_000, "unconfirmed_per_address": 0},
        }
    )
    app = make_app(settings)
    clock = Clock()
    app[CLOCK] = clock
    client: TestClient[Any, Any] = TestClient(TestServer(app))
    await client.start_server()
    try:
        return await simulate(app, client, clock, traffic, pool_size)
    finally:
        await client.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--hours", type=float, default=8.0, help="busy hours a day")
    parser.add_argument("--visits-per-hour", type=float, default=36.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg-url", default=None, help="PostgreSQL (its database is emptied)")
    parser.add_argument("--dir", default=None, help="where the SQLite file goes (default: a temporary one)")
    args = parser.parse_args()
    traffic = Traffic(
        seed=args.seed, days=args.days, hours_per_day=args.hours, visits_per_hour=args.visits_per_hour
    )
    recommended = traffic.recommended_pool()
    print(
        f"{traffic.days} days × {traffic.hours_per_day:g} busy hours, "
        f"{traffic.visits_per_hour:g} visits/hour, "
        f"mean visit {traffic.mean_visit_seconds:g} s, hold {traffic.hold_seconds} s, "
        f"heartbeat {traffic.heartbeat_seconds} s; mean lease {traffic.mean_lease_seconds():.0f} s; "
        f"Erlang-B recommends {recommended} numbers for 1% overflow"
    )
    sizes = [("recommended", recommended), ("half", max(1, recommended // 2)), ("double", 2 * recommended)]
    for label, size in sizes:
        with tempfile.TemporaryDirectory(dir=args.dir) as home:
            url = args.pg_url or f"sqlite+aiosqlite:///{Path(home) / 'bench.sqlite3'}"
            began = time.perf_counter()
            results = asyncio.run(run(traffic, size, url))
            took = time.perf_counter() - began
        print(f"\n{label}: {took:.0f} s")
        for line in summary(results):
            print("  " + line)
        if label == "recommended":
            for what, share in (
                ("calls not flagged ambiguous", results.sure_accuracy()),
                ("calls during the visit", results.accuracy("visit")),
            ):
                verdict = "met" if share >= 0.98 else "NOT met"
                print(f"  target: ≥ 98% right for {what}: {share:.1%} {verdict}")


if __name__ == "__main__":
    main()
