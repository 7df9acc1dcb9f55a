"""The call log's and call page's words: both languages, the same placeholders, every key the pages use."""

from __future__ import annotations

import re
from pathlib import Path

from kolokol.settings import LANGUAGES
from kolokol.web import pages
from kolokol.web.i18n import MESSAGES
from kolokol.web.i18n_calls import CALLS_MESSAGES

WEB = Path(pages.__file__).parent
SCRIPTS = ("calllog.js", "calllog_format.js", "callpage.js", "player.js")
TEMPLATES = ("calls.html", "call.html")
LITERAL_KEY = re.compile(r"""['"`]((?:calls|call|player|console|channel|common)\.[a-z0-9_.]+)['"`]""")
# Keys the scripts build from a prefix (t(`calls.col.${key}`) and the like): every name they can take.
BUILT = {
    "calls.col.": "when direction party branch operator status wait talk source recording",
    "calls.direction.": "inbound outbound internal",
    "calls.status.": "answered missed unanswered",
    "calls.preset.": "today yesterday last_7 last_30",
    "calls.recording.": "ready pending failed purged",
    "calls.recording.short.": "ready pending failed purged",
    "call.history.missed.": "ringing queue ivr",
    "call.history.task.": "open closed",
    "call.audit.col.": "when who action address",
    "call.audit.action.": "play download link",
    "channel.": "paid organic referral social email direct offline other",
    "console.contact.": "patient_status next_visit last_visit doctor curator branch birth_date email",
}
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def test_every_key_is_in_both_languages_with_the_same_placeholders() -> None:
    russian, english = set(CALLS_MESSAGES["ru"]), set(CALLS_MESSAGES["en"])
    assert russian == english
    for key in russian:
        ru, en = CALLS_MESSAGES["ru"][key], CALLS_MESSAGES["en"][key]
        assert ru.strip() and en.strip(), key
        assert set(PLACEHOLDER.findall(ru)) == set(PLACEHOLDER.findall(en)), key
        assert MESSAGES["ru"][key] == ru and MESSAGES["en"][key] == en, "merged into the pages' table"


def test_every_key_the_pages_use_exists() -> None:
    used: set[str] = set()
    for name in SCRIPTS:
        used |= set(LITERAL_KEY.findall((WEB / "static" / name).read_text(encoding="utf-8")))
    for name in TEMPLATES:
        used |= set(re.findall(r"\{\{\s*t:([a-z0-9_.]+)\s*\}\}", (WEB / "templates" / name).read_text()))
    used |= {prefix + name for prefix, names in BUILT.items() for name in names.split()}
    used = {key for key in used if not key.endswith(".")}
    assert len(used) > 100
    missing = sorted(key for key in used if not all(key in MESSAGES[lang] for lang in LANGUAGES))
    assert missing == []
