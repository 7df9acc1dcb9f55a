"""Website snippet benchmark: its size, and how soon after it starts a page shows the leased numbers.

A real ``kolokol serve`` (its own process, SQLite, on loopback) with a site and a pool of 300 numbers, set
up through the REST API; a clinic's page (--paragraphs sections of text, about 150 KB of HTML by
default; its number in five spellings, a tel: link, split over two elements in the footer) served by the
clinic's own site, which passes ``/kk/`` to kolokol as the README's nginx block does; Debian's Chromium
driven by Playwright loads the page --loads times:
- cold: each load a new visitor (a fresh browser context: nothing cached, no cookie): the snippet is
  downloaded, a session opened, a number leased;
- warm: one visitor loading page after page: the snippet from the browser's cache, the session resumed.
Per load, from the page's own timings (one clock, the page's ``performance.now()``):
- snippet downloaded → running: an async script runs once it has arrived and the page's parser lets
  go of the main thread; it starts the session request as it starts, so that request's start is when
  it ran;
- snippet running → numbers swapped (the figure of the issue): to the snippet's ``kolokol`` event,
  dispatched once the numbers are written into the page; split into the session request (network +
  kolokol's lease) and the scan and swap that follow;
- the page's own: DOMContentLoaded and load from navigation start, next to navigation start → swapped;
- and, once, the snippet's own main-thread work: a whole-page scan (``kolokol.swap()``).
Medians (and the slowest load) over the loads. Sizes: the served script, plain and gzipped, and the
bytes a browser actually receives for it. Targets (issue 10): ≤ 5 KB gzipped.

    .venv/bin/python bench/snippet.py [--loads 30] [--paragraphs 200]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from playwright.sync_api import Browser, BrowserContext, sync_playwright  # noqa: E402

from calltracking.snippet_http import ServedScript  # noqa: E402
from tests.support.clinic_site import ClinicSite  # noqa: E402
from tests.support.environment import kolokol_environment  # noqa: E402
from tests.support.serving import serving  # noqa: E402

CHROMIUM = Path(os.environ.get("KOLOKOL_CHROMIUM", "/usr/bin/chromium"))
SITE = "clinic-main"
CLINIC = "+74951110001"
POOL = [f"+7495222{n:04d}" for n in range(300)]
TIMINGS = """() => {
  const entries = performance.getEntriesByType("resource");
  const snippet = entries.find(e => e.name.endsWith("/snippet.js"));
  const session = entries.find(e => e.name.endsWith("/t/v1/session"));
  const nav = performance.getEntriesByType("navigation")[0];
  return {
    snippet_end: snippet.responseEnd, snippet_bytes: snippet.transferSize, cached: snippet.transferSize === 0,
    session_start: session.startTime, session_end: session.responseEnd,
    swapped: window.kkSwapped, dcl: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
  };
}"""
RESCAN = """() => {
  const took = [];
  for (let i = 0; i < 50; i++) {
    const start = performance.now();
    kolokol.swap();
    took.push(performance.now() - start);
  }
  return took;
}"""
WATCH = """
document.addEventListener("kolokol", function (e) {
  if (window.kkSwapped === undefined) window.kkSwapped = performance.now();
  window.kkDetail = e.detail;
});
"""


def clinic_page(paragraphs: int) -> str:
    spellings = [
        "+7 (495) 111-00-01",
        "8 495 111 00 01",
        "84951110001",
        "+7 495 111-00-01",
        "8-495-111-00-01",
    ]
    text = (
        "Клиника принимает взрослых и детей: терапия, стоматология, УЗИ, анализы. Запись по телефону "
        "или на сайте, приём в день обращения. "
    )
    body = [
        '<header><nav><a href="/">Главная</a> <a href="/prices">Цены</a> '
        '<a class="phone" href="tel:+74951110001">+7 (495) 111-00-01</a></nav></header><main>'
    ]
    for n in range(paragraphs):
        phone = f" Телефон: <b>{spellings[n % 5]}</b>." if n % 80 == 0 else ""
        body.append(f'<section><h2>Раздел {n}</h2><p class="lead">{text * 3}{phone}</p></section>')
    body.append("</main><footer><p>© Клиника · <span>+7 (495)</span> 111-00-01</p></footer>")
    return (
        '<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>Клиника</title>'
        '<link rel="icon" href="data:,">'
        f'<script src="/kk/t/v1/snippet.js" data-site="{SITE}" async></script></head>'
        f"<body>{''.join(body)}</body></html>"
    )


def kolokol_cli(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "kolokol", *args], env=env, cwd=cwd, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def put_site(base_url: str, token: str, origin: str) -> None:
    body = {
        "origins": [origin],
        "hold_seconds": 300,
        "heartbeat_seconds": 30,
        "pools": [{"name": "center", "replaces": [CLINIC], "numbers": POOL}],
    }
    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{base_url}api/tracking/sites/{SITE}",
        data=json.dumps(body).encode(),
        method="PUT",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback
        if answer.status not in (200, 201):
            raise SystemExit(f"the site could not be set up: {answer.status}")


def load(context: BrowserContext, url: str) -> dict[str, Any]:
    page = context.new_page()
    try:
        page.goto(url, wait_until="load")
        page.wait_for_function("window.kkDetail !== undefined", timeout=10_000)
        detail = page.evaluate("window.kkDetail")
        if detail["error"] or not detail["numbers"]:
            raise SystemExit(f"the page was not given a number: {detail}")
        shown = detail["numbers"][CLINIC]
        if shown[-4:-2] + "-" + shown[-2:] not in (page.text_content("footer") or ""):
            raise SystemExit("the event came but the footer's split number was not swapped")
        timings: dict[str, Any] = page.evaluate(TIMINGS)
        return timings
    finally:
        page.close()


def summary(rows: list[dict[str, Any]]) -> dict[str, tuple[float, float]]:
    def figure(values: list[float]) -> tuple[float, float]:
        return statistics.median(values), max(values)

    return {
        "navigation start → snippet downloaded": figure([r["snippet_end"] for r in rows]),
        "snippet downloaded → running": figure([r["session_start"] - r["snippet_end"] for r in rows]),
        "snippet running → numbers swapped": figure([r["swapped"] - r["session_start"] for r in rows]),
        "  session request (network + lease)": figure([r["session_end"] - r["session_start"] for r in rows]),
        "  scan and swap after the answer": figure([r["swapped"] - r["session_end"] for r in rows]),
        "navigation start → swapped": figure([r["swapped"] for r in rows]),
        "page's own DOMContentLoaded": figure([r["dcl"] for r in rows]),
        "page's own load event": figure([r["load"] for r in rows]),
    }


def print_phase(name: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{name}: {len(rows)} loads, median (slowest) in ms")
    for label, (median, slowest) in summary(rows).items():
        print(f"  {label:<40} {median:8.1f}  ({slowest:.1f})")


def measure(browser: Browser, url: str, loads: int) -> None:
    cold = []
    for _ in range(loads):
        context = browser.new_context()
        context.add_init_script(WATCH)
        try:
            cold.append(load(context, url))
        finally:
            context.close()
    print_phase("cold (a new visitor each load: snippet downloaded, session opened)", cold)
    received = statistics.median(r["snippet_bytes"] for r in cold)
    print(f"  snippet.js as received, headers included: {received:.0f} bytes")

    context = browser.new_context()
    context.add_init_script(WATCH)
    try:
        load(context, url)  # the first page: the snippet is cached from here on
        warm = [load(context, url) for _ in range(loads)]
    finally:
        context.close()
    if not all(r["cached"] for r in warm):
        print("  (note: some warm loads fetched snippet.js again)")
    print_phase("warm (one visitor, page after page: snippet cached, session resumed)", warm)

    # The snippet's own work on the main thread: a whole-page scan (kolokol.swap()), the page loaded.
    context = browser.new_context()
    context.add_init_script(WATCH)
    page = context.new_page()
    try:
        page.goto(url, wait_until="load")
        page.wait_for_function("window.kkDetail !== undefined")
        scans: list[float] = page.evaluate(RESCAN)
        elements = page.evaluate("document.getElementsByTagName('*').length")
    finally:
        context.close()
    # The machine is shared: a busy one stretches every figure above.
    load_1, load_5, load_15 = os.getloadavg()
    print(f"\nload average at the end: {load_1:.1f} {load_5:.1f} {load_15:.1f} (1, 5, 15 min)")
    median = statistics.median(scans)
    print(f"\na whole-page scan (kolokol.swap(), {elements} elements): median {median:.2f} ms,", end=" ")
    print(f"slowest {max(scans):.2f} ms of {len(scans)}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--loads", type=int, default=30)
    parser.add_argument("--paragraphs", type=int, default=200)
    args = parser.parse_args()
    if not CHROMIUM.exists():
        raise SystemExit(f"no Chromium at {CHROMIUM} (apt-get install chromium)")

    served = ServedScript.load()
    source = len(served.plain)
    print("snippet.js")
    print(f"  source file        {len((ROOT / 'calltracking/snippet/snippet.js').read_bytes()):6d} bytes")
    print(f"  served (compacted) {source:6d} bytes")
    print(f"  served gzipped     {len(served.gzipped):6d} bytes   target ≤ 5120")

    with tempfile.TemporaryDirectory(prefix="kolokol-bench-snippet-") as tmp:
        work = Path(tmp)
        env = kolokol_environment(
            work / "home",
            KOLOKOL_DATABASE__URL=f"sqlite+aiosqlite:///{work / 'kolokol.sqlite3'}",
            # One address opens every session of the bench: no per-address limits.
            KOLOKOL_TRACKING__UNCONFIRMED_PER_ADDRESS="0",
            KOLOKOL_TRACKING__PUBLIC_REQUESTS_PER_MINUTE="100000",
            KOLOKOL_LOG__LEVEL="WARNING",
        )
        (work / "home").mkdir()
        kolokol_cli(env, work, "migrate")
        token = kolokol_cli(env, work, "token", "create", "--role", "marketer", "--name", "bench")
        with serving(work, env) as kolokol:
            site = ClinicSite(kolokol.url).start()
            try:
                put_site(kolokol.url, token, site.base_url)
                url = site.page("/", clinic_page(args.paragraphs))
                html_bytes = len(clinic_page(args.paragraphs).encode())
                print(f"\nthe page: {html_bytes / 1024:.0f} KB of HTML, {args.paragraphs} sections")
                with sync_playwright() as driver:
                    browser = driver.chromium.launch(
                        executable_path=str(CHROMIUM),
                        headless=True,
                        args=[
                            "--no-sandbox",
                            "--disable-gpu",
                            "--no-first-run",
                            "--disable-background-networking",
                        ],
                    )
                    try:
                        load_context = browser.new_context()
                        load_context.add_init_script(WATCH)
                        load(load_context, url)  # warm-up: Chromium's and kolokol's first load
                        load_context.close()
                        measure(browser, url, args.loads)
                    finally:
                        browser.close()
            finally:
                site.stop()


if __name__ == "__main__":
    main()
