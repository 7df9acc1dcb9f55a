"""The marketer page in a real browser against a real kolokol: setting up tracking numbers and a site with
its pool, reading the report (its table, its charts, its CSV) from calls recorded by the real pipeline,
a manager reading without edit controls, an operator refused, and visitor-supplied text shown as text.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import update

from kolokol.app_keys import SESSIONS
from kolokol.calls.wiring import make_pipeline
from kolokol.storage.tables import Call, TrackingNumber
from pbx.call_record import PbxCallRecord
from tests.browser.server import Kolokol, screenshot, utc_now

pytestmark = pytest.mark.browser

HOSTILE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2">'
_calls = count(1)


def record_call(
    kolokol: Kolokol,
    *,
    caller: str,
    called: str,
    days_ago: float,
    talk_seconds: float | None,
    attribution: dict[str, Any],
    visit: dict[str, Any] | None = None,
) -> None:
    """An inbound call through the real pipeline, then its attribution as attribution sets it: the report
    columns, and in the call's `source` the visit's identifiers (`visit`: gclid, yclid, ym_client_id…)."""
    started = utc_now() - timedelta(days=days_ago)
    answered = started + timedelta(seconds=8) if talk_seconds is not None else None
    ended = answered + timedelta(seconds=talk_seconds or 0) if answered else started + timedelta(seconds=25)
    record = PbxCallRecord(
        pbx="asterisk",
        pbx_call_id=f"marketer.{next(_calls)}",
        direction="inbound",
        caller=caller,
        caller_name=None,
        called=called,
        status="answered" if answered else "missed",
        disposition="answered" if answered else "caller_hangup",
        missed_where=None if answered else "ringing",
        operator="101" if answered else None,
        answered_by="101" if answered else None,
        rang=("101",),
        transfers=(),
        started_at=started,
        answered_at=answered,
        ended_at=ended,
    )

    async def store() -> None:
        sessions = kolokol.app[SESSIONS]
        call = await make_pipeline(kolokol.settings, sessions).record(record)
        async with sessions.begin() as session:
            values: dict[str, Any] = {f"attr_{key}": value for key, value in attribution.items()}
            values["source"] = {**attribution, **(visit or {})}
            await session.execute(update(Call).where(Call.id == call.id).values(**values))

    kolokol.run(store())


def call_back(kolokol: Kolokol, number: str, *, days_ago: float) -> None:
    """The clinic calls a patient back and they answer (the real pipeline closes their task: reached)."""
    started = utc_now() - timedelta(days=days_ago)
    record = PbxCallRecord(
        pbx="asterisk",
        pbx_call_id=f"marketer.{next(_calls)}",
        direction="outbound",
        caller="101",
        caller_name=None,
        called=number,
        status="answered",
        disposition="answered",
        missed_where=None,
        operator="101",
        answered_by="101",
        rang=(),
        transfers=(),
        started_at=started,
        answered_at=started + timedelta(seconds=5),
        ended_at=started + timedelta(seconds=65),
    )
    kolokol.run(make_pipeline(kolokol.settings, kolokol.app[SESSIONS]).record(record))


def static_number(kolokol: Kolokol, number: str, name: str, source: str) -> None:
    async def insert() -> None:
        now = utc_now()
        async with kolokol.app[SESSIONS].begin() as session:
            session.add(
                TrackingNumber(
                    number=number, name=name, channel="offline", source=source, created_at=now, updated_at=now
                )
            )

    kolokol.run(insert())


def visit(kolokol: Kolokol, site: str, url: str, *, consent: bool = True) -> dict[str, Any]:
    """A visitor's page asks for its numbers through the public endpoint, as the snippet does."""
    body = {"site": site, "session": None, "url": url, "referrer": "", "consent": consent}

    async def ask() -> dict[str, Any]:
        async with (
            aiohttp.ClientSession() as client,
            client.post(
                kolokol.url("/t/v1/session"),
                data=json.dumps(body),
                headers={"Content-Type": "text/plain", "Origin": "https://clinic.example"},
            ) as response,
        ):
            assert response.status == 200, await response.text()
            answer: dict[str, Any] = await response.json()
            return answer

    return kolokol.run(ask())


def no_horizontal_scroll(page: Page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"horizontal scroll: content {widths[0]}px in a {widths[1]}px window"


def open_section(page: Page, name: str) -> None:
    page.click(f'.mk-tab[data-tab="{name}"]')
    expect(page.locator(f'section[data-section="{name}"]')).to_be_visible()


def test_a_marketer_sets_up_numbers_and_a_site_then_reads_the_report(
    kolokol: Kolokol, open_page: Any
) -> None:
    kolokol.add_user("mark", "marketer", display_name="Марк")
    page = open_page("mark", path="/marketer")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator(".mk-readonly")).to_be_hidden()

    # A static number for a billboard.
    open_section(page, "numbers")
    expect(page.locator("#static-numbers, #numbers .table-empty").first).to_be_visible()
    page.click("#add-number")
    dialog = page.locator("dialog.mk-dialog")
    dialog.locator('input[name="number"]').fill("8 (495) 111-00-30")
    dialog.locator('input[name="name"]').fill("Билборд на Ленина")
    dialog.locator('input[name="source"]').fill("billboard")
    dialog.locator('input[name="campaign"]').fill("весна")
    dialog.locator('button[type="submit"]').click()
    expect(dialog).to_have_count(0)
    row = page.locator('#static-numbers tr[data-number="+74951110030"]')
    expect(row).to_contain_text("Билборд на Ленина")
    expect(row).to_contain_text("billboard")
    expect(row).to_contain_text("+7 495 111-00-30")

    # Edited: the campaign changes, the number stays.
    row.locator("button", has_text="Изменить").click()
    expect(dialog.locator('input[name="number"]')).to_have_attribute("readonly", "")
    dialog.locator('input[name="campaign"]').fill("лето")
    dialog.locator('button[type="submit"]').click()
    expect(row).to_contain_text("лето")
    expect(page.locator("#static-numbers tbody tr")).to_have_count(1)

    # A refused change keeps the dialog open and says why, in the server's words.
    page.click("#add-number")
    dialog.locator('input[name="number"]').fill("12")
    dialog.locator('button[type="submit"]').click()
    expect(dialog.locator(".form-error")).to_be_visible()
    expect(dialog.locator(".form-error")).not_to_be_empty()
    dialog.locator("button", has_text="Отмена").click()
    expect(dialog).to_have_count(0)

    # A website with a pool of two numbers.
    page.click("#add-site")
    dialog.locator('input[name="site"]').fill("clinic-main")
    dialog.locator('textarea[name="origins"]').fill("https://clinic.example")
    dialog.locator('input[name="pool_name"]').fill("center")
    dialog.locator('textarea[name="pool_replaces"]').fill("+7 495 111-00-01")
    dialog.locator('textarea[name="pool_numbers"]').fill("+7 495 111-00-20\n+7 495 111-00-21")
    dialog.locator('input[name="pool_fallback"]').fill("+7 495 111-00-01")
    dialog.locator("button", has_text="Добавить номер по источнику").click()
    dialog.locator('input[name="sn_number"]').fill("+7 495 111-00-40")
    dialog.locator('input[name="sn_replaces"]').fill("+7 495 111-00-01")
    dialog.locator('input[name="sn_source"]').fill("yandex")
    screenshot(page, "marketer-site-dialog")
    dialog.locator('button[type="submit"]').click()
    expect(dialog).to_have_count(0)
    site = page.locator('.mk-site[data-site="clinic-main"]')
    expect(site).to_contain_text("https://clinic.example")
    pool = site.locator('.mk-pool[data-pool="center"]')
    expect(pool.locator("tr[data-number]")).to_have_count(2)
    expect(site.locator('.mk-source-numbers tr[data-number="+74951110040"]')).to_contain_text("yandex")
    # A visitor from Yandex who declined cookies is shown that number (no session, no lease).
    declined = visit(kolokol, "clinic-main", "https://clinic.example/?utm_source=yandex", consent=False)
    assert declined["session"] is None and declined["numbers"] == {"+74951110001": "+74951110040"}

    # Spam callers found a pool number: out of rotation, with a reason.
    pool.locator('tr[data-number="+74951110021"] button').click()
    dialog.locator('input[name="reason"]').fill("звонит спам")
    dialog.locator('button[type="submit"]').click()
    quarantined = page.locator('.mk-pool[data-pool="center"] tr[data-number="+74951110021"]')
    expect(quarantined).to_have_attribute("data-state", "quarantined")
    expect(quarantined).to_contain_text("звонит спам")
    screenshot(page, "marketer-numbers")

    # Editing the site (another address) keeps its pool and the quarantined number's state.
    site.locator("button", has_text="Изменить").click()
    expect(dialog.locator('input[name="site"]')).to_have_value("clinic-main")
    dialog.locator('textarea[name="origins"]').fill("https://clinic.example\nhttps://www.clinic.example")
    dialog.locator('button[type="submit"]').click()
    expect(dialog).to_have_count(0)
    expect(site).to_contain_text("https://www.clinic.example")
    expect(quarantined).to_have_attribute("data-state", "quarantined")
    expect(pool.locator("tr[data-number]")).to_have_count(2)

    # Calls: two from Yandex ads (one long enough to be a target call), one missed from a campaign whose
    # utm value is a script, one to the billboard.
    paid = {"kind": "pool", "channel": "paid", "medium": "cpc", "site": "clinic-main", "pool": "center"}
    record_call(
        kolokol,
        caller="+79161110001",
        called="+74951110020",
        days_ago=3,
        talk_seconds=95,
        attribution={**paid, "source": "yandex", "campaign": "implants"},
    )
    record_call(
        kolokol,
        caller="+79161110002",
        called="+74951110020",
        days_ago=2,
        talk_seconds=20,
        attribution={**paid, "source": "yandex", "campaign": "implants"},
    )
    record_call(
        kolokol,
        caller="+79161110003",
        called="+74951110020",
        days_ago=1,
        talk_seconds=None,
        attribution={**paid, "source": HOSTILE, "campaign": HOSTILE},
    )
    record_call(
        kolokol,
        caller="+79161110004",
        called="+74951110030",
        days_ago=1,
        talk_seconds=70,
        attribution={
            "kind": "static",
            "channel": "offline",
            "source": "billboard",
            "tracking_number": "+74951110030",
        },
    )

    call_back(kolokol, "+79161110003", days_ago=1 - 2 / 24)  # two hours after the missed call

    open_section(page, "reports")
    page.select_option("#report-group", "source")
    table = page.locator("#report-table")
    yandex = table.locator("tbody tr", has_text="yandex")
    expect(yandex.locator('td[data-col="calls"]')).to_have_text("2")
    expect(yandex.locator('td[data-col="answered"]')).to_have_text("2")
    expect(yandex.locator('td[data-col="target_calls"]')).to_have_text("1")
    expect(yandex.locator('td[data-col="leads"]')).to_have_text("")
    hostile = table.locator("tbody tr", has_text="<script>")
    expect(hostile.locator("th")).to_have_text(HOSTILE)
    expect(hostile.locator('td[data-col="missed"]')).to_have_text("1")
    expect(hostile.locator('td[data-col="missed_reached"]')).to_have_text("1")
    expect(hostile.locator('td[data-col="reached_median"]')).to_have_text(
        re.compile(r"^(1 ч 5\d мин|2 ч( \d мин)?)$")
    )
    expect(table.locator("tfoot td[data-col='calls']")).to_have_text("4")
    assert page.evaluate("window.__pwned") is None, "a utm value never runs as markup"
    assert table.locator("script, img").count() == 0

    # Ordered by calls, most first; a heading's click orders by that column, again the other way.
    names = table.locator("tbody th")
    expect(names.first).to_have_text("yandex")
    table.locator("thead button", has_text="Звонки").click()
    expect(table.locator("thead th[aria-sort='ascending']")).to_have_text("Звонки")
    expect(names.last).to_have_text("yandex")
    table.locator("thead button", has_text="Источник").click()
    expect(names).to_have_text([HOSTILE, "billboard", "yandex"])
    table.locator("thead button", has_text="Источник").click()
    expect(names).to_have_text(["yandex", "billboard", HOSTILE])

    # The charts are drawn from those calls, their legends naming the groups (as text).
    for chart in ("#chart-series", "#chart-groups"):
        expect(page.locator(f"{chart} canvas").first).to_be_visible()
        expect(page.locator(chart)).to_have_attribute("data-drawn", "true")
    expect(page.locator("#chart-series .u-legend")).to_contain_text("yandex")
    expect(page.locator("#chart-series .u-legend")).to_contain_text("billboard")
    expect(page.locator("#chart-groups .u-legend")).to_contain_text("Целевые")
    # A long utm value is cut in the legend (the table has it whole).
    expect(page.locator("#chart-series .u-legend")).to_contain_text(HOSTILE[:47] + "…")
    assert page.locator("#chart-series .u-legend script, #chart-series .u-legend img").count() == 0
    screenshot(page, "marketer-report")

    with page.expect_download() as download_info:
        page.click("#report-csv")
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    text = Path(download.path()).read_text(encoding="utf-8-sig")
    assert "yandex" in text and "billboard" in text
    assert "Источник" in text, "the CSV is in the page's language"
    assert "'<script>" in text or "<script>" in text

    # The quick ranges: seven days up to today, last month whole.
    page.click(".mk-presets button:has-text('7 дней')")
    expect(page.locator("#report-note")).to_contain_text("—")
    first, last = (date.fromisoformat(page.input_value(f"#report-{edge}")) for edge in ("from", "to"))
    assert last - first == timedelta(days=6)
    page.click(".mk-presets button:has-text('Прошлый месяц')")
    first, last = (date.fromisoformat(page.input_value(f"#report-{edge}")) for edge in ("from", "to"))
    assert first.day == 1 and (last + timedelta(days=1)).day == 1 and first.month == last.month

    # Half a year: the chart counts weeks.
    page.fill("#report-from", (last - timedelta(days=182)).isoformat())
    page.fill("#report-to", last.isoformat())
    page.click(".mk-filters button[type=submit]")
    expect(page.locator(".mk-chart-panel .section-title").first).to_have_text("Звонки по неделям")

    # Grouped by channel, the channels read as words.
    page.click(".mk-presets button:has-text('30 дней')")
    page.select_option("#report-group", "channel")
    expect(table.locator("tbody th", has_text="реклама")).to_be_visible()
    expect(table.locator("tbody th", has_text="офлайн")).to_be_visible()

    # A visitor on the site holds the pool's one number in rotation; the pools section shows it taken.
    answer = visit(kolokol, "clinic-main", "https://clinic.example/?utm_source=yandex&utm_medium=cpc")
    assert answer["numbers"] == {"+74951110001": "+74951110020"}
    # A second visitor finds no free number: the fallback, counted as an overflow.
    visit(kolokol, "clinic-main", "https://clinic.example/?utm_source=google&utm_medium=cpc")
    open_section(page, "pools")
    health = page.locator('.mk-pool-health[data-site="clinic-main"][data-pool="center"]')
    expect(health.locator('[data-fact="size"] dd')).to_have_text("1")
    expect(health.locator('[data-fact="leased_now"] dd')).to_have_text("1")
    expect(health.locator('[data-fact="quarantined"] dd')).to_have_text("1")
    expect(health.locator('[data-fact="overflows"] dd')).to_have_text("1")
    expect(health.locator('[data-fact="overflow_share"] dd')).to_have_text("50 %")
    expect(health.locator(".u-legend")).to_contain_text("Переполнения")
    expect(health.locator(".mk-advice")).not_to_be_empty()
    expect(health.locator(".mk-chart canvas").first).to_be_visible()
    # Over the last 7 days instead of 30: the occupancy chart has an hour for each hour since that midnight.
    expect(health.locator(".mk-chart")).to_have_attribute("data-points", re.compile(r"^(69[6-9]|7[0-2]\d)$"))
    page.select_option("#pool-window", "7")
    expect(health.locator(".mk-chart")).to_have_attribute("data-points", re.compile(r"^(14[4-9]|15\d|16\d)$"))
    expect(health.locator('[data-fact="leased_now"] dd')).to_have_text("1")
    screenshot(page, "marketer-pools")


def test_a_manager_reads_everything_and_can_change_nothing(kolokol: Kolokol, open_page: Any) -> None:
    kolokol.add_user("olga", "manager", display_name="Ольга Петровна")
    static_number(kolokol, "+74951110030", "Листовка", "leaflet")
    page = open_page("olga", path="/marketer", viewport={"width": 1024, "height": 768})
    expect(page.locator(".mk-readonly")).to_be_visible()
    expect(page.locator("#report-table-wrap .table-empty")).to_be_visible()
    no_horizontal_scroll(page)
    open_section(page, "numbers")
    expect(page.locator(".topnav-link[aria-current='page']")).to_have_text("Маркетинг")
    row = page.locator('#static-numbers tr[data-number="+74951110030"]')
    expect(row).to_contain_text("leaflet")
    expect(page.locator("#add-number")).to_have_count(0)
    expect(page.locator("#add-site")).to_have_count(0)
    expect(row.locator("button")).to_have_count(0)
    no_horizontal_scroll(page)
    screenshot(page, "marketer-manager-1024")
    open_section(page, "costs")
    expect(page.locator("#add-cost")).to_have_count(0)
    expect(page.locator("#costs-file")).to_have_count(0)


def test_an_operator_is_refused(kolokol: Kolokol, open_page: Any) -> None:
    kolokol.add_user("anna", "operator", extensions=("101",))
    page = open_page("anna", path="/marketer")
    expect(page.locator("h1")).to_have_text("Нет доступа")
    expect(page.locator("#main")).to_have_count(0)


def test_the_page_speaks_english_when_asked(kolokol: Kolokol, open_page: Any) -> None:
    kolokol.add_user("mark", "marketer")
    page = open_page("mark", path="/marketer")
    page.click(".language-switch a[hreflang='en']")
    expect(page.locator(".mk-tab[data-tab='reports']")).to_have_text("Reports")
    expect(page.locator("#report-table-heading")).to_have_text("Report")
    expect(page.locator("#report-group option[value='term']")).to_have_text("Keyword")
    screenshot(page, "marketer-english")


def last_month() -> str:
    today = datetime.now(ZoneInfo("Europe/Moscow")).date()
    return (today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")


def test_a_marketer_enters_and_imports_costs_and_the_report_prices_calls(
    kolokol: Kolokol, open_page: Any
) -> None:
    kolokol.add_user("mark", "marketer")
    month = last_month()
    page = open_page("mark", path="/marketer")
    open_section(page, "costs")
    expect(page.locator("#costs .table-empty")).to_be_visible()

    page.click("#add-cost")
    dialog = page.locator("dialog.mk-dialog")
    dialog.locator('input[name="month"]').fill(month)
    dialog.locator('input[name="source"]').fill("yandex")
    dialog.locator('input[name="medium"]').fill("cpc")
    dialog.locator('input[name="amount"]').fill("3 000,50")
    dialog.locator('button[type="submit"]').click()
    expect(dialog).to_have_count(0)
    row = page.locator("#costs-table tbody tr", has_text="yandex")
    expect(row).to_contain_text(month)
    expect(row.locator("td.num")).to_have_text(re.compile(r"3\s000,50\s+RUB"))

    # A file with a bad row: nothing is imported, and the page says which line and why.
    bad = f"month;source;medium;campaign;amount\n{month};google;cpc;;1500\n{month};vk;;;много\n"
    page.set_input_files("#costs-file", {"name": "costs.csv", "mimeType": "text/csv", "buffer": bad.encode()})
    page.click(".mk-import button[type=submit]")
    expect(page.locator("#costs-import-result")).to_contain_text("line 3")
    expect(page.locator("#costs-table tbody tr")).to_have_count(1)

    # As Excel in Russia saves it: Windows-1251, Russian headings.
    good = f"Месяц;Источник;Канал трафика;Кампания;Сумма\n{month};google;cpc;Имплантация;1500\n"
    page.set_input_files(
        "#costs-file", {"name": "costs.csv", "mimeType": "text/csv", "buffer": good.encode("cp1251")}
    )
    page.click(".mk-import button[type=submit]")
    expect(page.locator("#costs-import-result")).to_have_text("Загружено строк: 1")
    expect(page.locator("#costs-table tbody tr", has_text="google")).to_contain_text("Имплантация")
    screenshot(page, "marketer-costs")

    # Last month's report by source carries the costs (no calls then: no cost per call).
    call_back(kolokol, "+79161110003", days_ago=1 - 2 / 24)  # two hours after the missed call

    open_section(page, "reports")
    page.select_option("#report-group", "source")
    first = date.fromisoformat(f"{month}-01")
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    page.fill("#report-from", first.isoformat())
    page.fill("#report-to", last.isoformat())
    page.click(".mk-filters button[type=submit]")
    yandex = page.locator("#report-table tbody tr", has_text="yandex")
    expect(yandex.locator('td[data-col="cost"]')).to_have_text(re.compile(r"3\s000,50\s+RUB"))
    expect(yandex.locator('td[data-col="cost_per_call"]')).to_have_text("")
    expect(page.locator('#report-totals .stat[data-kind="cost"] .stat-value')).to_have_text(
        re.compile(r"4\s500,50\s+RUB")
    )

    # Deleting a cost asks first.
    open_section(page, "costs")
    page.locator("#costs-table tbody tr", has_text="google").locator("button", has_text="Удалить").click()
    page.locator("dialog button.mk-danger").click()
    expect(page.locator("#costs-table tbody tr", has_text="google")).to_have_count(0)


def test_a_marketer_downloads_the_files_for_metrica_and_google_ads(kolokol: Kolokol, open_page: Any) -> None:
    kolokol.add_user("mark", "marketer")
    record_call(
        kolokol,
        caller="+79161110004",
        called="+74951110030",
        days_ago=1,
        talk_seconds=70,
        attribution={
            "kind": "static",
            "channel": "offline",
            "source": "billboard",
            "tracking_number": "+74951110030",
        },
    )
    record_call(
        kolokol,
        caller="+79161110005",
        called="+74951110020",
        days_ago=2,
        talk_seconds=30,
        attribution={
            "kind": "pool",
            "channel": "paid",
            "source": "google",
            "tracking_number": "+74951110020",
        },
        visit={"gclid": "Cj0KCQiA_test-gclid", "ym_client_id": "1712345678901234567", "yclid": None},
    )
    page = open_page("mark", path="/marketer")
    open_section(page, "exports")

    with page.expect_download() as metrica:
        page.click("#export-yandex")
    text = Path(metrica.value.path()).read_text(encoding="utf-8")
    assert "1712345678901234567" in text and "+74951110030" in text
    expect(page.locator("#export-status")).to_have_text("Файл сохранён: 2 звонка.")

    # Google needs the conversion's name: the API's refusal is shown, nothing is saved.
    page.click("#export-google")
    expect(page.locator("#export-status .mk-error")).to_contain_text("conversion_name")
    page.fill("#export-conversion", "Звонок с сайта")
    with page.expect_download() as google:
        page.click("#export-google")
    text = Path(google.value.path()).read_text(encoding="utf-8")
    assert "Cj0KCQiA_test-gclid" in text and "Звонок с сайта" in text
    expect(page.locator("#export-status")).to_have_text("Файл сохранён: 1 звонок.")

    # Only target calls: the filter travels in the link.
    page.select_option("#export-which", "target")
    assert "target=1" in (page.get_attribute("#export-google", "href") or "")
    screenshot(page, "marketer-exports")


def test_a_marketer_deletes_a_static_number_after_confirming(kolokol: Kolokol, open_page: Any) -> None:
    kolokol.add_user("mark", "marketer")
    static_number(kolokol, "+74951110031", '<img src=x onerror="window.__pwned = 3">', "leaflet")
    page = open_page("mark", path="/marketer")
    open_section(page, "numbers")
    row = page.locator('#static-numbers tr[data-number="+74951110031"]')
    expect(row).to_contain_text('<img src=x onerror="window.__pwned = 3">')
    row.locator("button", has_text="Удалить").click()
    page.locator("dialog button", has_text="Отмена").click()
    expect(row).to_be_visible()
    row.locator("button", has_text="Удалить").click()
    page.locator("dialog button.mk-danger").click()
    expect(page.get_by_text("Статических номеров пока нет.")).to_be_visible()
    expect(row).to_have_count(0)
    assert page.evaluate("window.__pwned") is None


def test_when_kolokol_cannot_be_reached_the_page_says_so(kolokol: Kolokol, open_page: Any) -> None:
    kolokol.add_user("mark", "marketer")
    page = open_page("mark", path="/marketer")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    page.route("**/api/tracking/report**", lambda route: route.abort())
    page.click(".mk-filters button[type=submit]")
    expect(page.locator("#conn")).to_have_attribute("data-state", "offline")
    expect(page.locator("#report-status .mk-error")).to_contain_text("Нет связи с сервером.")
    expect(page.locator("#conn-banner")).to_be_hidden()
    page.unroute("**/api/tracking/report**")
    page.click(".mk-filters button[type=submit]")
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    expect(page.locator("#report-status .mk-error")).to_have_count(0)
