"""Where a website visit came from, read from the page URL and the referrer: pure, no I/O.

The rules (ct_design.md, "Source of a visit"): a click id (``gclid``, ``yclid``, ``fbclid``) or a paid
``utm_medium`` is **paid**; ``utm_medium`` e-mail is **email**; a social network (in the utm or the
referrer) is **social**; other utm values go by their medium (no medium: **referral**); without utm a
search engine's referrer is **organic** (source: the engine), another site's is **referral** (source: its
host), and the site itself or no referrer is **direct**.

Everything read here comes from the visitor's browser and is kept as data: values are repaired to valid
text and cut to the columns that hold them; nothing is interpreted beyond the classification.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from pbx.untrusted import fitted

CHANNELS = ("paid", "organic", "referral", "social", "email", "direct", "offline", "other")

# The columns' sizes (kolokol/storage/tables.py: VisitorSession).
SOURCE_CHARS = 200
MEDIUM_CHARS = 200
CAMPAIGN_CHARS = 500
CONTENT_CHARS = 500
TERM_CHARS = 500
PAGE_CHARS = 1000
CLICK_ID_CHARS = 200
CLIENT_ID_CHARS = 100
# More than any real page's query carries; the rest of a longer one is not read.
MAX_QUERY_CHARS = 8192
MAX_QUERY_FIELDS = 200

_PAID_MEDIA = frozenset(
    {
        "cpc", "ppc", "paid", "cpm", "cpa", "cpv", "cpi", "cpl", "cpo", "cps", "display", "banner",
        "paidsearch", "paid_search", "paid-search", "paidsocial", "paid_social", "paid-social",
        "retargeting", "remarketing", "context", "context-cpc", "cpc_yandex_direct", "mediaads",
        "smart-banner", "video-ads",
    }
)  # fmt: skip
_EMAIL_MEDIA = frozenset(
    {"email", "e-mail", "e_mail", "mail", "newsletter", "mailing", "mailchimp", "sendpulse"}
)
_SOCIAL_MEDIA = frozenset(
    {"social", "social-network", "social_network", "social-media", "social_media", "sm", "smm"}
)
_MEDIUM_CHANNELS = {
    "organic": "organic",
    "seo": "organic",
    "referral": "referral",
    "referrer": "referral",
    "link": "referral",
    "affiliate": "referral",
    "partner": "referral",
    "none": "direct",
    "(none)": "direct",
    "direct": "direct",
    "offline": "offline",
    "print": "offline",
    "qr": "offline",
}
# utm_source values naming a social network (lower case) -> its name.
_SOCIAL_SOURCES = {
    "vk": "vk", "vkontakte": "vk", "vk.com": "vk", "ok": "ok", "odnoklassniki": "ok", "ok.ru": "ok",
    "telegram": "telegram", "tg": "telegram", "t.me": "telegram", "facebook": "facebook", "fb": "facebook",
    "facebook.com": "facebook", "instagram": "instagram", "ig": "instagram", "youtube": "youtube",
    "twitter": "twitter", "x": "twitter", "linkedin": "linkedin", "tiktok": "tiktok", "dzen": "dzen",
    "zen": "dzen", "pinterest": "pinterest", "reddit": "reddit", "whatsapp": "whatsapp", "viber": "viber",
}  # fmt: skip
# Referrer hosts (without "www." and "m.") of social networks and their link shims.
_SOCIAL_HOSTS = {
    "vk.com": "vk", "vk.ru": "vk", "away.vk.com": "vk", "vk.me": "vk", "ok.ru": "ok", "t.me": "telegram",
    "web.telegram.org": "telegram", "telegram.org": "telegram", "facebook.com": "facebook",
    "l.facebook.com": "facebook", "lm.facebook.com": "facebook", "fb.com": "facebook",
    "instagram.com": "instagram", "l.instagram.com": "instagram", "youtube.com": "youtube",
    "youtu.be": "youtube", "twitter.com": "twitter", "x.com": "twitter", "t.co": "twitter",
    "linkedin.com": "linkedin", "lnkd.in": "linkedin", "tiktok.com": "tiktok", "dzen.ru": "dzen",
    "zen.yandex.ru": "dzen", "pinterest.com": "pinterest", "pinterest.ru": "pinterest",
    "reddit.com": "reddit", "wa.me": "whatsapp", "web.whatsapp.com": "whatsapp",
}  # fmt: skip
# Web mail: a link clicked in a letter.
_MAIL_HOSTS = {
    "mail.yandex.ru": "yandex mail", "mail.yandex.com": "yandex mail", "e.mail.ru": "mail.ru mail",
    "touch.mail.ru": "mail.ru mail", "mail.google.com": "gmail", "outlook.live.com": "outlook",
    "outlook.office.com": "outlook", "mail.rambler.ru": "rambler mail",
}  # fmt: skip
# Search engines: a pattern on the host (without "www.") -> the engine's name; the query parameter that
# some of them still pass (the visitor's words) becomes the term.
_ENGINES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), name)
    for pattern, name in (
        (r"google\.(?:com?\.)?[a-z]{2,3}", "google"),
        (r"yandex\.(?:com\.)?[a-z]{2,3}", "yandex"),
        (r"ya\.ru", "yandex"),
        (r"(?:go|search)\.mail\.ru", "mail.ru"),
        (r"bing\.com|cn\.bing\.com", "bing"),
        (r"duckduckgo\.com", "duckduckgo"),
        (r"(?:nova\.)?rambler\.ru", "rambler"),
        (r"(?:[a-z]{2}\.)?search\.yahoo\.com", "yahoo"),
        (r"baidu\.com", "baidu"),
        (r"ecosia\.org", "ecosia"),
        (r"search\.brave\.com", "brave"),
        (r"(?:[a-z]{2}\.)?search\.seznam\.cz|seznam\.cz", "seznam"),
    )
)
_ENGINE_QUERY_KEYS = ("q", "text", "query", "p", "wd")
# Apps that open links (android-app://<package>/): the search apps count as their engine.
_APP_ENGINES = {"com.google.android.googlequicksearchbox": "google", "ru.yandex.searchplugin": "yandex"}
_APP_SOCIAL = {
    "org.telegram.messenger": "telegram",
    "com.vkontakte.android": "vk",
    "com.instagram.android": "instagram",
}
_CLICK_SOURCES = (("gclid", "google"), ("yclid", "yandex"), ("fbclid", "facebook"))
# Click ids that mark an ad click without being kept (Google's app and iOS ids, Microsoft's).
_OTHER_CLICK_IDS = (("gbraid", "google"), ("wbraid", "google"), ("msclkid", "bing"))
_GA_COOKIE = re.compile(r"^GA\d\.\d+\.(\d{1,20}\.\d{1,20})$")
_GA_CLIENT_ID = re.compile(r"^\d{1,20}\.\d{1,20}$")
_YM_UID = re.compile(r"^\d{1,40}$")


@dataclass(frozen=True, slots=True)
class VisitSource:
    channel: str
    source: str | None = None
    medium: str | None = None
    campaign: str | None = None
    content: str | None = None
    term: str | None = None
    gclid: str | None = None
    yclid: str | None = None
    fbclid: str | None = None
    landing_page: str | None = None
    referrer: str | None = None


def classify(url: str | None, referrer: str | None, site_origins: tuple[str, ...] = ()) -> VisitSource:
    """The source of a visit that landed on ``url`` from ``referrer``; ``site_origins`` are the site's own
    addresses (a referrer from them is the site itself: direct)."""
    page = _http_url(url)
    params = _query(page.query if page is not None else "")
    came_from = _referrer(referrer)
    clicks = {name: _value(params.get(name), CLICK_ID_CHARS) for name, _ in _CLICK_SOURCES}
    utm = {
        key: _value(params.get(f"utm_{key}"), size)
        for key, size in (
            ("source", SOURCE_CHARS),
            ("medium", MEDIUM_CHARS),
            ("campaign", CAMPAIGN_CHARS),
            ("content", CONTENT_CHARS),
            ("term", TERM_CHARS),
        )
    }
    common = {
        "gclid": clicks["gclid"],
        "yclid": clicks["yclid"],
        "fbclid": clicks["fbclid"],
        "landing_page": _landing_page(page),
        "referrer": _value(referrer, PAGE_CHARS) if came_from is not None else None,
    }
    tagged = {
        "campaign": utm["campaign"],
        "content": utm["content"],
        "term": utm["term"],
    }
    medium = (utm["medium"] or "").lower()
    clicked = next((source for name, source in _CLICK_SOURCES if clicks[name]), None)
    clicked = clicked or next((source for name, source in _OTHER_CLICK_IDS if params.get(name)), None)
    if clicked is not None or _paid(medium):
        source = utm["source"] or clicked or _host_source(came_from)
        return VisitSource("paid", source, utm["medium"] or "cpc", **tagged, **common)
    if medium in _EMAIL_MEDIA:
        return VisitSource("email", utm["source"], utm["medium"], **tagged, **common)
    if any(utm.values()):
        social = _SOCIAL_SOURCES.get((utm["source"] or "").lower())
        if medium in _SOCIAL_MEDIA or (social is not None and not medium):
            return VisitSource("social", utm["source"], utm["medium"] or "social", **tagged, **common)
        channel = _MEDIUM_CHANNELS.get(medium, "other") if medium else "referral"
        return VisitSource(channel, utm["source"], utm["medium"], **tagged, **common)
    return _by_referrer(came_from, page, site_origins, common)


def _by_referrer(
    came_from: _Referrer | None,
    page: _Url | None,
    site_origins: tuple[str, ...],
    common: dict[str, str | None],
) -> VisitSource:
    if came_from is None or _same_site(came_from.host, page, site_origins):
        return VisitSource("direct", **common)
    if came_from.app is not None:
        if (engine := _APP_ENGINES.get(came_from.app)) is not None:
            return VisitSource("organic", engine, "organic", **common)
        if (network := _APP_SOCIAL.get(came_from.app)) is not None:
            return VisitSource("social", network, "social", **common)
        return VisitSource("referral", _value(came_from.app, SOURCE_CHARS), "referral", **common)
    host = _bare_host(came_from.host)
    for pattern, engine in _ENGINES:
        if pattern.fullmatch(host):
            words = next((came_from.params[k] for k in _ENGINE_QUERY_KEYS if came_from.params.get(k)), None)
            return VisitSource("organic", engine, "organic", term=_value(words, TERM_CHARS), **common)
    if (network := _SOCIAL_HOSTS.get(host)) is not None:
        return VisitSource("social", network, "social", **common)
    if (mail := _MAIL_HOSTS.get(host)) is not None:
        return VisitSource("email", mail, "email", **common)
    return VisitSource("referral", _value(host, SOURCE_CHARS), "referral", **common)


def _paid(medium: str) -> bool:
    return medium in _PAID_MEDIA or medium.startswith("paid") or "cpc" in medium


def ga_client_id(value: str | None) -> str | None:
    """The Google Analytics client id from the ``_ga`` cookie ("GA1.2.1234567890.1700000000" ->
    "1234567890.1700000000") or as the id itself; None for anything else."""
    if not value:
        return None
    value = value.strip()
    if (match := _GA_COOKIE.fullmatch(value)) is not None:
        return match.group(1)
    return value if _GA_CLIENT_ID.fullmatch(value) else None


def ym_client_id(value: str | None) -> str | None:
    """Yandex Metrica's ClientID (the ``_ym_uid`` cookie: digits); None for anything else."""
    if not value:
        return None
    value = value.strip()
    return value if _YM_UID.fullmatch(value) else None


# ---- reading URLs ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Url:
    scheme: str
    host: str
    netloc: str
    path: str
    query: str


@dataclass(frozen=True, slots=True)
class _Referrer:
    host: str
    params: dict[str, str]
    # The package name of an android-app:// referrer.
    app: str | None = None


def _http_url(url: str | None) -> _Url | None:
    if not url:
        return None
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not host:
        return None
    return _Url(parts.scheme.lower(), host, parts.netloc.lower(), parts.path, parts.query)


def _referrer(referrer: str | None) -> _Referrer | None:
    if not referrer:
        return None
    text = referrer.strip()
    try:
        parts = urlsplit(text)
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme == "android-app" and host:
        return _Referrer(host, {}, app=host)
    if scheme not in ("http", "https") or not host:
        return None
    return _Referrer(host, _query(parts.query))


def _query(query: str) -> dict[str, str]:
    """The query's parameters (names in lower case; the first of a repeated one wins), bounded."""
    found: dict[str, str] = {}
    try:
        pairs = parse_qsl(query[:MAX_QUERY_CHARS], keep_blank_values=False, max_num_fields=None)
    except ValueError:
        return found
    for name, value in pairs[:MAX_QUERY_FIELDS]:
        found.setdefault(name.strip().lower(), value)
    return found


def _value(text: str | None, limit: int) -> str | None:
    """Text from outside as a column holds it: valid, trimmed, cut to ``limit``; None when empty."""
    if text is None:
        return None
    value = fitted(text.strip(), limit)
    return value or None


def _landing_page(page: _Url | None) -> str | None:
    # Without the query (click ids make every landing unique) and the fragment: the page people group by.
    if page is None:
        return None
    return _value(f"{page.scheme}://{page.netloc}{page.path or '/'}", PAGE_CHARS)


def _bare_host(host: str) -> str:
    for prefix in ("www.", "m."):
        if host.startswith(prefix):
            return host[len(prefix) :]
    return host


def _host_source(came_from: _Referrer | None) -> str | None:
    return _value(_bare_host(came_from.host), SOURCE_CHARS) if came_from is not None else None


def _same_site(host: str, page: _Url | None, site_origins: tuple[str, ...]) -> bool:
    if page is not None and _bare_host(host) == _bare_host(page.host):
        return True
    for origin in site_origins:
        try:
            origin_host = (urlsplit(origin).hostname or "").lower()
        except ValueError:
            continue
        if origin_host and _bare_host(origin_host) == _bare_host(host):
            return True
    return False
