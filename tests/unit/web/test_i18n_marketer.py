"""The marketer page's words: both languages, the same placeholders, and every key the page uses exists."""

from __future__ import annotations

import re
from pathlib import Path

from kolokol.settings import LANGUAGES
from kolokol.web import pages
from kolokol.web.i18n import MESSAGES
from kolokol.web.i18n_marketer import MARKETER_MESSAGES

WEB = Path(pages.__file__).parent
PLURAL_FORMS = ("one", "few", "many", "other")
LITERAL_KEY = re.compile(r"""['"`]((?:marketer|channel)\.[a-z0-9_.]+)['"`]""")
# Keys the scripts build from a prefix: t(`marketer.col.${key}`) and the like; every name they can take.
BUILT = {
    "marketer.col.": (
        "calls unique_callers first_time_callers answered missed missed_reached reached_median target_calls "
        "leads bookings revenue cost cost_per_call cost_per_target_call tracking_number name branch channel "
        "source medium campaign content term"
    ),
    "marketer.group.": "channel source medium campaign term landing_page tracking_number pool branch",
    "marketer.pools.fact.": "size quarantined leased_now overflows overflow_share recommended",
    "marketer.pools.state.": "active quarantined retired",
    "channel.": "paid organic referral social email direct offline other",
}
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _exists(key: str) -> bool:
    return all(key in MESSAGES[lang] for lang in LANGUAGES) or all(
        f"{key}.{form}" in MESSAGES[lang] for lang in LANGUAGES for form in PLURAL_FORMS
    )


def test_every_marketer_key_is_in_both_languages_with_the_same_placeholders() -> None:
    russian, english = set(MARKETER_MESSAGES["ru"]), set(MARKETER_MESSAGES["en"])
    assert russian == english
    for key in russian:
        ru, en = MARKETER_MESSAGES["ru"][key], MARKETER_MESSAGES["en"][key]
        assert ru.strip() and en.strip(), key
        assert set(PLACEHOLDER.findall(ru)) == set(PLACEHOLDER.findall(en)), key
        assert MESSAGES["ru"][key] == ru and MESSAGES["en"][key] == en, "merged into the pages' table"


def test_every_key_the_page_uses_exists() -> None:
    used: set[str] = set()
    for script in sorted((WEB / "static").glob("marketer*.js")):
        used |= set(LITERAL_KEY.findall(script.read_text(encoding="utf-8")))
    used |= set(re.findall(r"\{\{\s*t:([a-z0-9_.]+)\s*\}\}", (WEB / "templates/marketer.html").read_text()))
    used |= {prefix + name for prefix, names in BUILT.items() for name in names.split()}
    used = {key for key in used if not key.endswith(".")}
    assert len(used) > 100
    missing = sorted(key for key in used if not _exists(key))
    assert missing == []
