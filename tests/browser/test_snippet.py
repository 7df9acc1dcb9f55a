"""The website snippet in Chromium on a clinic's pages, against a real kolokol: the pages are served by a
site of their own (another origin) that passes `/kk/` to kolokol as the README's nginx block does.

The site is configured through the REST API as a marketer would. Faults (kolokol answering 500, never
answering, refusing the connection) are the site's proxy or the browser's network failing, with
everything else real. The pages' timers run on Playwright's clock: the tests move time on instead of
waiting for it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.browser.server import Kolokol, wait_for
from tests.support.clinic_site import HANG, ClinicSite
from tests.support.snippet_pages import (
    CLINIC,
    CLOCK_START,
    GA,
    OFFLINE_NUMBER,
    POOL,
    SITE,
    WATCH,
    YM,
    answered,
    page_html,
    put_site,
    respelled,
    sessions_stored,
)


@pytest.fixture
def site(kolokol: Kolokol) -> Iterator[ClinicSite]:
    clinic = ClinicSite(kolokol.base_url).start()
    put_site(kolokol, [clinic.base_url])
    yield clinic
    clinic.stop()


Visit = Callable[..., Page]


@pytest.fixture
def visit(chromium: Browser) -> Iterator[Visit]:
    """Open a URL as a new visitor (a fresh browser context), with the page's own `cookies` (the
    analytics counters'). The page's clock is Playwright's, paused: its timers fire only when a test
    moves the clock on, so the snippet's 3 s timeout never cuts a slow machine's answer short and
    heartbeats come when the test says."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def open_page(url: str, *, cookies: dict[str, str] | None = None) -> Page:
        context = chromium.new_context(locale="ru-RU", timezone_id="Europe/Moscow")
        contexts.append(context)
        if cookies:
            context.add_cookies([{"name": k, "value": v, "url": url} for k, v in cookies.items()])
        context.add_init_script(WATCH)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
        page.clock.install(time=CLOCK_START)
        page.clock.pause_at(CLOCK_START + timedelta(seconds=1))
        page.goto(url)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, "\n".join(errors)


def cookie_names(page: Page) -> set[str]:
    return {c["name"] for c in page.context.cookies()}


def shown_number(page: Page) -> str:
    numbers = page.evaluate("kolokol.numbers()")
    assert set(numbers) == {CLINIC}, numbers
    number = numbers[CLINIC]
    assert number in POOL
    return str(number)


SPELLINGS = {
    "a": "+7 (495) 111-00-01",
    "b": "8 495 111 00 01",
    "c": "84951110001",
    "d": "+7 495 111-00-01",
    "e": "8-495-111-00-01",
}
UNTOUCHED = """
<script id="script">var clinic = "+7 (495) 111-00-01";</script>
<style id="style">.phone::after { content: "+7 (495) 111-00-01"; }</style>
<form><input id="input" value="+7 (495) 111-00-01"><textarea id="textarea">+7 (495) 111-00-01</textarea>
<select id="select"><option>+7 (495) 111-00-01</option></select></form>
<div id="noswap" data-kolokol-noswap><a id="noswap-link" href="tel:+74951110001">+7 (495) 111-00-01</a></div>
<div id="editable" contenteditable="true">+7 (495) 111-00-01</div>
<a id="whatsapp" href="https://wa.me/74951110001">WhatsApp</a>
"""
PLAIN = (
    "<header><h1>Клиника</h1></header>"
    + "".join(f'<p id="{key}">Запись: {text}</p>' for key, text in SPELLINGS.items())
    + '<p id="split"><span class="code">+7 (495)</span> <b>111</b>-00-01</p>'
    + '<p><a id="call" href="tel:+74951110001" title="Позвонить: +7 (495) 111-00-01"'
    + ' aria-label="Позвонить по номеру 8 495 111 00 01">Позвонить</a> '
    + '<a id="call-text" href="tel:8-495-111-00-01">8 (495) 111-00-01</a></p>'
    + '<p id="other">+7 (495) 111-00-02 и 8 (800) 555-01-01</p>'
    + UNTOUCHED
)


def assert_untouched(page: Page) -> None:
    original = "+7 (495) 111-00-01"
    assert "111-00-01" in (page.text_content("#script") or "")
    assert "111-00-01" in (page.text_content("#style") or "")
    assert page.input_value("#input") == original
    assert page.input_value("#textarea") == original
    assert page.text_content("#select option") == original
    assert page.text_content("#noswap") == original
    assert page.get_attribute("#noswap-link", "href") == "tel:+74951110001"
    assert page.text_content("#editable") == original
    assert page.get_attribute("#whatsapp", "href") == "https://wa.me/74951110001", "tel: links only"


def assert_original(page: Page) -> None:
    for key, text in SPELLINGS.items():
        assert page.text_content(f"#{key}") == f"Запись: {text}"
    assert page.text_content("#split") == "+7 (495) 111-00-01"
    assert page.get_attribute("#call", "href") == "tel:+74951110001"
    assert page.get_attribute("#call", "title") == "Позвонить: +7 (495) 111-00-01"
    assert page.get_attribute("#call", "aria-label") == "Позвонить по номеру 8 495 111 00 01"
    assert page.get_attribute("#call-text", "href") == "tel:8-495-111-00-01"
    assert page.text_content("#call-text") == "8 (495) 111-00-01"


def assert_swapped(page: Page, number: str) -> None:
    for key, text in SPELLINGS.items():
        assert page.text_content(f"#{key}") == f"Запись: {respelled(text, number)}"
    assert page.inner_html("#split") == (
        f'<span class="code">+7 (495)</span> <b>111</b>-{number[-4:-2]}-{number[-2:]}'
    )
    assert page.get_attribute("#call", "href") == f"tel:{number}"
    # Tooltips and screen readers say the number shown.
    assert page.get_attribute("#call", "title") == f"Позвонить: {respelled('+7 (495) 111-00-01', number)}"
    assert page.get_attribute("#call", "aria-label") == (
        f"Позвонить по номеру {respelled('8 495 111 00 01', number)}"
    )
    assert page.get_attribute("#call-text", "href") == f"tel:{respelled('8-495-111-00-01', number)}"
    assert page.text_content("#call-text") == respelled("8 (495) 111-00-01", number)


# -- a plain page ---------------------------------------------------------------------------------------


def test_a_plain_page_shows_the_leased_number_in_every_spelling(
    kolokol: Kolokol, site: ClinicSite, visit: Visit
) -> None:
    url = site.page("/", page_html(PLAIN))
    page = visit(url, cookies={"_ga": GA, "_ym_uid": YM})
    detail = answered(page)
    assert detail["error"] is None
    number = shown_number(page)
    assert detail["numbers"] == {CLINIC: number}
    assert_swapped(page, number)
    assert page.text_content("#other") == "+7 (495) 111-00-02 и 8 (800) 555-01-01"
    assert_untouched(page)

    # What the page sent, as the contract says, through the clinic's own /kk/ path.
    (opened,) = site.sent("/t/v1/session")
    assert opened.content_type.startswith("text/plain"), "no CORS preflight"
    assert opened.body == {
        "site": SITE,
        "session": None,
        "url": url,
        "referrer": None,
        "ga": GA,
        "ym": YM,
        "consent": True,
    }
    (stored,) = sessions_stored(kolokol)
    assert stored.ga_client_id and stored.ga_client_id in GA
    assert stored.ym_client_id == YM
    # The session id is kept in a first-party cookie (consent was given), for the next page.
    (kept,) = [c for c in page.context.cookies() if c["name"] == "kolokol_session"]
    assert kept["value"] == stored.id and kept["path"] == "/" and kept["sameSite"] == "Lax"

    # The next page of the same visit resumes the session and shows the same number.
    page.goto(site.page("/prices", page_html(PLAIN)))
    answered(page)
    assert site.sent("/t/v1/session")[1].body["session"] == stored.id
    assert_swapped(page, number)
    assert len(sessions_stored(kolokol)) == 1


def test_two_visitors_at_once_are_shown_two_numbers(site: ClinicSite, visit: Visit) -> None:
    url = site.page("/", page_html(PLAIN))
    first, second = visit(url), visit(url)
    answered(first)
    answered(second)
    assert shown_number(first) != shown_number(second)


# -- numbers rendered later -------------------------------------------------------------------------------

LATE = """
<p id="static">+7 (495) 111-00-01</p>
<p id="edited">Телефон уточняется</p>
<p id="completed"><span>+7 (495)</span> </p>
<p><a id="relinked" href="/contacts">Контакты</a></p>
<button id="book" type="button">Записаться</button>
<script>
document.getElementById("book").addEventListener("click", function () {
  var modal = document.createElement("div");
  modal.id = "modal";
  modal.innerHTML = '<div class="dialog"><p>Позвоните нам: <a id="modal-call" href="tel:84951110001">' +
    '8 (495) 111-00-01</a></p><p id="modal-text">или 8 495 111 00 01</p></div>';
  document.body.appendChild(modal);
});
</script>
"""


def test_numbers_rendered_later_are_swapped_too(site: ClinicSite, visit: Visit) -> None:
    page = visit(site.page("/", page_html(LATE)))
    answered(page)
    number = shown_number(page)
    assert page.text_content("#static") == respelled("+7 (495) 111-00-01", number)

    page.click("#book")  # a pop-up added by the page's own script
    expect(page.locator("#modal-call")).to_have_text(respelled("8 (495) 111-00-01", number))
    assert page.get_attribute("#modal-call", "href") == f"tel:{respelled('84951110001', number)}"
    expect(page.locator("#modal-text")).to_have_text(f"или {respelled('8 495 111 00 01', number)}")

    # A single-page app's ways of writing: text changed in place, a number completed by a new node, a
    # link given a tel: address.
    page.evaluate("document.getElementById('edited').firstChild.data = 'Телефон: 8 (495) 111-00-01'")
    expect(page.locator("#edited")).to_have_text(f"Телефон: {respelled('8 (495) 111-00-01', number)}")
    page.evaluate(
        "() => { const s = document.createElement('span'); s.textContent = '111-00-01';"
        " document.getElementById('completed').appendChild(s); }"
    )
    expect(page.locator("#completed")).to_have_text(respelled("+7 (495) 111-00-01", number))
    page.evaluate("document.getElementById('relinked').setAttribute('href', 'tel:+74951110001')")
    expect(page.locator("#relinked")).to_have_attribute("href", f"tel:{number}")


# -- kolokol failing: the page keeps its own numbers ------------------------------------------------------


def test_kolokol_unreachable_leaves_the_numbers(site: ClinicSite, chromium: Browser) -> None:
    url = site.page("/", page_html(PLAIN))
    context = chromium.new_context()
    try:
        context.add_init_script(WATCH)
        context.route("**/kk/t/v1/session", lambda route: route.abort("connectionrefused"))
        page = context.new_page()
        page.clock.install(time=CLOCK_START)
        page.clock.pause_at(CLOCK_START + timedelta(seconds=1))
        page.goto(url)
        assert answered(page) == {"numbers": {}, "error": "unreachable"}
        assert_original(page)
        assert "kolokol_session" not in cookie_names(page)
    finally:
        context.close()


def test_kolokol_answering_500_leaves_the_numbers(site: ClinicSite, visit: Visit) -> None:
    site.fail("/t/v1/session", (500, {"error": "internal"}))
    page = visit(site.page("/", page_html(PLAIN)))
    assert answered(page) == {"numbers": {}, "error": "http 500"}
    assert_original(page)
    assert "kolokol_session" not in cookie_names(page)


def test_kolokol_not_answering_leaves_the_numbers_after_3_seconds(site: ClinicSite, visit: Visit) -> None:
    site.fail("/t/v1/session", HANG)
    page = visit(site.page("/", page_html(PLAIN)))
    wait_for(lambda: site.arrived("/t/v1/session") == 1)
    page.clock.run_for(2900)
    assert page.evaluate("window.kkEvents") == [], "still waiting"
    page.clock.run_for(200)
    assert answered(page) == {"numbers": {}, "error": "timeout"}
    assert_original(page)


def test_a_cross_origin_page_not_among_the_sites_origins_keeps_its_numbers(
    kolokol: Kolokol, site: ClinicSite, visit: Visit
) -> None:
    # kolokol on its own address (no proxy): a page of an origin the site names gets numbers (CORS)...
    direct = page_html(PLAIN, src=kolokol.url("/t/v1/snippet.js"))
    page = visit(site.page("/direct", direct))
    assert answered(page)["error"] is None
    assert_swapped(page, shown_number(page))
    # ...another origin's page does not (the browser is refused the answer).
    stranger = visit(site.page("/direct", direct).replace("127.0.0.1", "localhost"))
    assert answered(stranger) == {"numbers": {}, "error": "unreachable"}
    assert_original(stranger)


# -- heartbeats -----------------------------------------------------------------------------------------


def heartbeats(page: Page) -> int:
    return int(page.evaluate("window.kkPosts.filter(u => u.endsWith('/heartbeat')).length"))


def handled(page: Page, answers: int) -> None:
    """Wait until the snippet has handled this many answers from kolokol (session and heartbeats)."""
    page.wait_for_function(f"window.kkHandled >= {answers}")


def test_heartbeats_keep_the_lease_while_the_page_is_seen(
    kolokol: Kolokol, site: ClinicSite, visit: Visit
) -> None:
    page = visit(site.page("/", page_html(PLAIN)))
    answered(page)
    number = shown_number(page)
    session = sessions_stored(kolokol)[0].id

    # The first heartbeat comes soon (an unconfirmed lease is short), then every heartbeat_seconds.
    page.clock.run_for(9_000)
    assert heartbeats(page) == 0
    page.clock.run_for(1_000)
    assert heartbeats(page) == 1
    handled(page, 2)
    (beat,) = site.sent("/t/v1/heartbeat")
    assert beat.body == {"site": SITE, "session": session} and beat.status == 200
    assert beat.content_type.startswith("text/plain")

    # A hidden page does not heartbeat; shown again, it does at once.
    page.evaluate("window.kkHidden = true; document.dispatchEvent(new Event('visibilitychange'))")
    page.clock.run_for(60_000)
    assert heartbeats(page) == 1
    page.evaluate("window.kkHidden = false; document.dispatchEvent(new Event('visibilitychange'))")
    assert heartbeats(page) == 2
    handled(page, 3)
    assert site.sent("/t/v1/heartbeat")[1].status == 200
    assert_swapped(page, number)
    page.clock.run_for(30_000)
    assert heartbeats(page) == 3


def test_a_heartbeat_with_other_numbers_reswaps_and_with_none_restores(
    site: ClinicSite, visit: Visit
) -> None:
    page = visit(site.page("/", page_html(PLAIN)))
    answered(page)
    number = shown_number(page)
    other = next(n for n in POOL if n != number)

    site.fail("/t/v1/heartbeat", (200, {"session": "x", "heartbeat_seconds": 30, "numbers": {CLINIC: other}}))
    page.clock.run_for(10_000)
    assert answered(page, 2) == {"numbers": {CLINIC: other}, "error": None}
    assert_swapped(page, other)
    assert_untouched(page)

    site.fail("/t/v1/heartbeat", (200, {"session": "x", "heartbeat_seconds": 30, "numbers": {}}))
    page.clock.run_for(30_000)
    assert answered(page, 3) == {"numbers": {}, "error": None}
    assert_original(page)

    # A heartbeat that fails keeps what is shown (the lease outlives a missed heartbeat).
    site.fail("/t/v1/heartbeat", (200, {"session": "x", "heartbeat_seconds": 30, "numbers": {CLINIC: other}}))
    page.clock.run_for(30_000)
    answered(page, 4)
    site.fail("/t/v1/heartbeat", (503, {"error": "unavailable"}))
    handled(page, 4)
    page.clock.run_for(30_000)
    handled(page, 5)
    page.clock.run_for(30_000)
    handled(page, 6)
    assert [s.status for s in site.sent("/t/v1/heartbeat")][-2:] == [503, 503]
    assert heartbeats(page) == 5, "it went on heartbeating"
    assert_swapped(page, other)


def test_an_unknown_session_opens_a_new_one(kolokol: Kolokol, site: ClinicSite, visit: Visit) -> None:
    page = visit(site.page("/", page_html(PLAIN)))
    answered(page)
    first = sessions_stored(kolokol)[0].id
    site.fail("/t/v1/heartbeat", (404, {"error": "no-such-session", "message": "open a new one"}))
    page.clock.run_for(10_000)
    wait_for(lambda: len(site.sent("/t/v1/session")) == 2)
    assert site.sent("/t/v1/session")[1].body["session"] is None
    answered(page, 2)
    second = next(s.id for s in sessions_stored(kolokol) if s.id != first)
    kept = {c["name"]: c["value"] for c in page.context.cookies()}
    assert kept["kolokol_session"] == second
    assert_swapped(page, shown_number(page))


# -- consent --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "head"),
    [
        ('data-consent="false"', ""),
        ("", "<script>window.kolokolConsent = false;</script>"),
    ],
    ids=["attribute", "global"],
)
def test_without_consent_no_cookie_no_identifiers_and_numbers_by_source_only(
    kolokol: Kolokol, site: ClinicSite, visit: Visit, tag: str, head: str
) -> None:
    url = site.page("/", page_html(PLAIN, tag=tag, head=head))
    page = visit(url, cookies={"_ga": GA, "_ym_uid": YM})
    assert answered(page) == {"numbers": {CLINIC: OFFLINE_NUMBER}, "error": None}
    assert_swapped(page, OFFLINE_NUMBER)
    (opened,) = site.sent("/t/v1/session")
    assert opened.body == {
        "site": SITE,
        "session": None,
        "url": url,
        "referrer": None,
        "ga": None,
        "ym": None,
        "consent": False,
    }
    assert cookie_names(page) == {"_ga", "_ym_uid"}, "the page's own cookies only"
    assert sessions_stored(kolokol) == []
    page.clock.run_for(120_000)
    assert heartbeats(page) == 0, "nothing leased, nothing to keep"


def test_consent_given_and_withdrawn_on_the_page(kolokol: Kolokol, site: ClinicSite, visit: Visit) -> None:
    page = visit(site.page("/", page_html(PLAIN, tag='data-consent="false"')), cookies={"_ga": GA})
    answered(page)
    assert "kolokol_session" not in cookie_names(page)

    page.evaluate("kolokol.consent(true)")  # the visitor accepted the cookie banner
    detail = answered(page, 2)
    assert detail["numbers"][CLINIC] in POOL
    assert site.sent("/t/v1/session")[1].body["consent"] is True
    assert site.sent("/t/v1/session")[1].body["ga"] == GA
    assert "kolokol_session" in cookie_names(page)
    assert_swapped(page, shown_number(page))

    page.evaluate("kolokol.consent(false)")  # and changed their mind
    assert answered(page, 3) == {"numbers": {CLINIC: OFFLINE_NUMBER}, "error": None}
    assert "kolokol_session" not in cookie_names(page)
    assert site.sent("/t/v1/session")[2].body["ga"] is None
    assert_swapped(page, OFFLINE_NUMBER)


# -- the API for single-page apps -------------------------------------------------------------------------


SHADOW = """
<clinic-card id="card"></clinic-card>
<script>
customElements.define("clinic-card", class extends HTMLElement {
  connectedCallback() {
    this.attachShadow({mode: "open"}).innerHTML = '<p id="inner">+7 (495) 111-00-01</p>';
  }
});
</script>
"""


def test_a_shadow_root_handed_to_swap_is_swapped_and_watched(site: ClinicSite, visit: Visit) -> None:
    page = visit(site.page("/", page_html('<p id="static">+7 (495) 111-00-01</p>' + SHADOW)))
    answered(page)
    number = shown_number(page)
    inner = page.locator("#card #inner")
    assert page.text_content("#static") == respelled("+7 (495) 111-00-01", number)
    assert inner.text_content() == "+7 (495) 111-00-01", "a shadow tree is the component's own"

    page.evaluate("kolokol.swap(document.getElementById('card').shadowRoot)")
    assert inner.text_content() == respelled("+7 (495) 111-00-01", number)
    page.evaluate(
        "document.getElementById('card').shadowRoot.getElementById('inner').textContent = '8 495 111 00 01'"
    )
    expect(inner).to_have_text(respelled("8 495 111 00 01", number))
