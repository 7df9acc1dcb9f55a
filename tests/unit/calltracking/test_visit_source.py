"""A visit's source from real-looking landing URLs and referrers."""

from __future__ import annotations

import pytest

from calltracking.visit_source import (
    CAMPAIGN_CHARS,
    PAGE_CHARS,
    SOURCE_CHARS,
    VisitSource,
    classify,
    ga_client_id,
    ym_client_id,
)

SITE = ("https://clinic.example",)


def test_yandex_direct_click_with_yclid_and_utm_is_paid_with_its_campaign_and_keyword() -> None:
    url = (
        "https://clinic.example/implants/?utm_source=yandex&utm_medium=cpc&utm_campaign=95123456"
        "&utm_content=14151617&utm_term=%D0%B8%D0%BC%D0%BF%D0%BB%D0%B0%D0%BD%D1%82%D1%8B+%D1%86%D0%B5%D0%BD%D0%B0"
        "&yclid=5726430183729381375"
    )
    found = classify(url, "https://yandex.ru/", SITE)
    assert found == VisitSource(
        channel="paid",
        source="yandex",
        medium="cpc",
        campaign="95123456",
        content="14151617",
        term="импланты цена",
        yclid="5726430183729381375",
        landing_page="https://clinic.example/implants/",
        referrer="https://yandex.ru/",
    )


def test_google_ads_click_with_only_gclid_is_paid_from_google() -> None:
    url = "https://clinic.example/?gclid=Cj0KCQiA4NWrBhD-ARIsAFCKwWt_7Zp4&gad_source=1"
    found = classify(url, "https://www.google.com/", SITE)
    assert (found.channel, found.source, found.medium, found.gclid) == (
        "paid",
        "google",
        "cpc",
        "Cj0KCQiA4NWrBhD-ARIsAFCKwWt_7Zp4",
    )


@pytest.mark.parametrize(
    "medium", ["cpc", "CPC", "ppc", "paid", "cpm", "display", "paid_social", "retargeting"]
)
def test_paid_media_are_paid(medium: str) -> None:
    found = classify(f"https://clinic.example/?utm_source=vk&utm_medium={medium}&utm_campaign=spring", None)
    assert (found.channel, found.source, found.medium, found.campaign) == ("paid", "vk", medium, "spring")


@pytest.mark.parametrize(
    ("referrer", "engine"),
    [
        ("https://yandex.ru/", "yandex"),
        ("https://yandex.kz/search/?text=clinic", "yandex"),
        ("https://ya.ru/", "yandex"),
        ("https://www.google.com/", "google"),
        ("https://www.google.co.uk/", "google"),
        ("https://www.google.com.tr/", "google"),
        ("https://go.mail.ru/search?q=dentist", "mail.ru"),
        ("https://www.bing.com/search?q=dentist+moscow", "bing"),
        ("https://duckduckgo.com/", "duckduckgo"),
        ("https://nova.rambler.ru/search?query=stomatolog", "rambler"),
        ("android-app://com.google.android.googlequicksearchbox/", "google"),
    ],
)
def test_search_engine_referrers_without_utm_are_organic(referrer: str, engine: str) -> None:
    found = classify("https://clinic.example/contacts", referrer, SITE)
    assert (found.channel, found.source, found.medium) == ("organic", engine, "organic")
    assert found.landing_page == "https://clinic.example/contacts"


def test_an_engine_that_passes_the_query_gives_the_term() -> None:
    found = classify("https://clinic.example/", "https://www.bing.com/search?q=dentist+moscow", SITE)
    assert found.term == "dentist moscow"


@pytest.mark.parametrize(
    ("referrer", "network"),
    [
        ("https://vk.com/", "vk"),
        ("https://m.vk.com/wall-1_2", "vk"),
        ("https://away.vk.com/away.php?to=https%3A%2F%2Fclinic.example", "vk"),
        ("https://ok.ru/group/1", "ok"),
        ("https://t.me/clinicchannel/12", "telegram"),
        ("https://l.facebook.com/l.php?u=x", "facebook"),
        ("https://www.instagram.com/", "instagram"),
        ("https://www.youtube.com/watch?v=1", "youtube"),
        ("https://dzen.ru/a/xyz", "dzen"),
    ],
)
def test_social_network_referrers_are_social(referrer: str, network: str) -> None:
    found = classify("https://clinic.example/", referrer, SITE)
    assert (found.channel, found.source, found.medium) == ("social", network, "social")


def test_social_utm_without_a_paid_medium_is_social() -> None:
    found = classify("https://clinic.example/?utm_source=vk&utm_campaign=post-42", None, SITE)
    assert (found.channel, found.source, found.medium, found.campaign) == (
        "social",
        "vk",
        "social",
        "post-42",
    )
    assert classify("https://clinic.example/?utm_source=blog&utm_medium=smm", None).channel == "social"


def test_email_medium_and_webmail_referrers_are_email() -> None:
    found = classify("https://clinic.example/?utm_source=sendpulse&utm_medium=email&utm_campaign=nov", None)
    assert (found.channel, found.source, found.medium, found.campaign) == (
        "email",
        "sendpulse",
        "email",
        "nov",
    )
    assert classify("https://clinic.example/", "https://e.mail.ru/inbox/").channel == "email"


def test_another_site_is_a_referral_named_by_its_host() -> None:
    found = classify("https://clinic.example/doctors/ivanova", "https://prodoctorov.ru/moskva/vrach/1/", SITE)
    assert (found.channel, found.source, found.medium) == ("referral", "prodoctorov.ru", "referral")
    assert found.referrer == "https://prodoctorov.ru/moskva/vrach/1/"


def test_utm_goes_by_its_medium_else_referral() -> None:
    assert classify("https://clinic.example/?utm_source=partner-site", None).channel == "referral"
    assert classify("https://clinic.example/?utm_source=flyer&utm_medium=qr", None).channel == "offline"
    assert classify("https://clinic.example/?utm_source=x&utm_medium=organic", None).channel == "organic"
    assert classify("https://clinic.example/?utm_source=x&utm_medium=weird", None).channel == "other"


@pytest.mark.parametrize(
    "referrer",
    [None, "", "https://clinic.example/prices", "https://www.clinic.example/", "not a url", "file:///x"],
)
def test_no_referrer_or_the_site_itself_is_direct(referrer: str | None) -> None:
    found = classify("https://clinic.example/", referrer, SITE)
    assert found.channel == "direct"
    assert (found.source, found.medium) == (None, None)


def test_a_referrer_from_another_of_the_sites_origins_is_direct() -> None:
    origins = ("https://clinic.example", "https://promo.clinic.example")
    assert (
        classify("https://clinic.example/", "https://promo.clinic.example/offer", origins).channel == "direct"
    )


def test_utm_names_are_read_whatever_their_case_and_the_first_of_a_repeat_wins() -> None:
    found = classify("https://clinic.example/?UTM_SOURCE=Yandex&utm_medium=cpc&utm_source=other", None)
    assert found.source == "Yandex"


def test_script_in_values_is_kept_as_plain_data() -> None:
    attack = "<script>alert(1)</script>"
    found = classify(f"https://clinic.example/?utm_source=x&utm_medium=cpc&utm_campaign={attack}", attack)
    assert found.campaign == attack
    assert found.referrer is None  # not a URL: not a referrer at all


def test_huge_values_are_cut_to_their_columns_and_stay_valid_text() -> None:
    huge = "я" * 5000
    found = classify(
        f"https://clinic.example/{'p' * 3000}?gclid={'g' * 900}&utm_medium=cpc&utm_source={huge[:1000]}"
        f"&utm_campaign={huge[:1000]}",
        "https://" + "a" * 3000 + ".example/",
    )
    assert found.source is not None and len(found.source) == SOURCE_CHARS and found.source.endswith("…")
    assert found.campaign is not None and len(found.campaign) == CAMPAIGN_CHARS
    assert found.gclid is not None and len(found.gclid) <= 200
    assert found.landing_page is not None and len(found.landing_page) == PAGE_CHARS


def test_broken_text_in_values_is_repaired_not_refused() -> None:
    found = classify("https://clinic.example/?utm_source=a%00b%ED%A0%80&utm_medium=cpc", None)
    assert found.source is not None
    found.source.encode("utf-8")
    assert "\x00" not in found.source


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "", None, "https://", "http://[::1", "ftp://clinic.example/?utm_source=x"]
)
def test_unusable_page_urls_give_no_landing_page_and_no_parameters(url: str | None) -> None:
    found = classify(url, None)
    assert found == VisitSource(channel="direct")


def test_a_query_with_thousands_of_fields_is_read_in_bounds() -> None:
    query = "&".join(f"f{n}=v" for n in range(50_000))
    found = classify(f"https://clinic.example/?{query}&utm_medium=cpc", None)
    assert found.channel == "direct"  # the medium came after what is read


def test_analytics_client_ids() -> None:
    assert ga_client_id("GA1.2.1234567890.1700000000") == "1234567890.1700000000"
    assert ga_client_id("1234567890.1700000000") == "1234567890.1700000000"
    assert ga_client_id("<script>") is None
    assert ga_client_id("GA1.2." + "1" * 500 + ".1") is None
    assert ym_client_id("1700000000123456789") == "1700000000123456789"
    assert ym_client_id("17abc") is None
    assert ym_client_id(None) is None
