"""The console's words: every key in both languages, every key the pages use exists, and page data is safe."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kolokol.settings import LANGUAGES
from kolokol.web import html_render, pages
from kolokol.web.i18n import MESSAGES

WEB = Path(pages.__file__).parent
PLURAL_FORMS = ("one", "few", "many", "other")
# A message key written as a string literal in the scripts: 'console.tasks.due', "supervisor.col.who".
SCRIPT_KEY = re.compile(r"""['"`]((?:console|supervisor|common)\.[a-z0-9_.]+)['"`]""")
TEMPLATE_KEY = re.compile(r"\{\{\s*t:([a-z0-9_.]+)\s*\}\}")
PYTHON_KEY = re.compile(r"""translate\([^,]+,\s*f?["']((?:console|supervisor)\.[a-z0-9_.{}]+)["']\)""")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _console_keys(language: str) -> set[str]:
    return {key for key in MESSAGES[language] if key.startswith(("console.", "supervisor."))}


def test_every_console_key_exists_in_both_languages() -> None:
    russian, english = _console_keys("ru"), _console_keys("en")
    assert russian, "the console has words"
    assert russian - english == set(), "missing in English"
    assert english - russian == set(), "missing in Russian"
    for key in russian:
        for language in LANGUAGES:
            assert MESSAGES[language][key].strip(), f"{language}:{key} is empty"


def test_translations_fill_the_same_placeholders() -> None:
    for key in _console_keys("ru"):
        ru = set(PLACEHOLDER.findall(MESSAGES["ru"][key]))
        en = set(PLACEHOLDER.findall(MESSAGES["en"][key]))
        if key.rsplit(".", 1)[1] in PLURAL_FORMS:  # "Called once before" spells its count out
            ru, en = ru - {"n"}, en - {"n"}
        assert ru == en, f"{key}: {{{ru}}} in Russian, {{{en}}} in English"


def _exists(key: str) -> bool:
    """A plain key, or the stem of a counted phrase (stem.one ... stem.other)."""
    return all(key in MESSAGES[lang] for lang in LANGUAGES) or all(
        f"{key}.{form}" in MESSAGES[lang] for lang in LANGUAGES for form in PLURAL_FORMS
    )


def _used_keys() -> dict[str, str]:
    used: dict[str, str] = {}
    for script in sorted((WEB / "static").glob("*.js")):
        for key in SCRIPT_KEY.findall(script.read_text(encoding="utf-8")):
            used.setdefault(key, script.name)
    for template in sorted((WEB / "templates").glob("*.html")):
        for key in TEMPLATE_KEY.findall(template.read_text(encoding="utf-8")):
            used.setdefault(key, template.name)
    for key in PYTHON_KEY.findall(Path(pages.__file__).read_text(encoding="utf-8")):
        if "{" in key:  # console.language.{choice}
            for language in LANGUAGES:
                used.setdefault(key.replace("{choice}", language), "pages.py")
        else:
            used.setdefault(key, "pages.py")
    return used


def test_every_key_the_pages_use_exists() -> None:
    used = _used_keys()
    assert len(used) > 100, "the scan finds the keys (a changed quoting style would hide them)"
    missing = {key: where for key, where in used.items() if not _exists(key)}
    assert missing == {}


def test_counted_phrases_have_every_russian_form() -> None:
    stems = {key.rsplit(".", 1)[0] for key in _console_keys("ru") if key.rsplit(".", 1)[1] in PLURAL_FORMS}
    for stem in stems:
        for form in PLURAL_FORMS:
            assert f"{stem}.{form}" in MESSAGES["ru"], f"{stem}.{form}"


def test_every_static_file_the_pages_reference_exists() -> None:
    static = WEB / "static"
    referenced: set[str] = set()
    for template in (WEB / "templates").glob("*.html"):
        referenced |= set(re.findall(r"/static/([\w./-]+)", template.read_text(encoding="utf-8")))
    for script in static.glob("*.js"):
        text = script.read_text(encoding="utf-8")
        referenced |= set(re.findall(r"from '\./([\w./-]+)'", text))
        referenced |= {f"{name}.svg" for name in re.findall(r"icon\('([\w-]+)'\)", text)}
    referenced |= set(re.findall(r"url\(([\w.-]+)\)", (static / "console.css").read_text(encoding="utf-8")))
    missing = sorted(name for name in referenced if not (static / name).is_file())
    assert missing == []


def test_every_icon_a_script_draws_has_a_css_rule() -> None:
    css = (WEB / "static" / "console.css").read_text(encoding="utf-8")
    for script in (WEB / "static").glob("*.js"):
        for name in re.findall(r"icon\('([\w-]+)'\)", script.read_text(encoding="utf-8")):
            assert f".icon-{name} " in css, f"{script.name}: icon {name} has no .icon-{name} rule"


@pytest.mark.parametrize(
    "hostile",
    ["</script><script>alert(1)</script>", "<!--", "a & b", "\u2028", "<b>"],
)
def test_page_data_cannot_break_out_of_its_script_block(hostile: str) -> None:
    text = html_render.json_for_script({"name": hostile})
    assert "<" not in text and ">" not in text and "&" not in text
    assert json.loads(text) == {"name": hostile}


def test_templates_escape_what_they_are_given() -> None:
    html = html_render.render(
        "_header.html",
        "ru",
        {"csrf": '"><script>', "display_name": "<Анна & Co>", "extensions": "доб. 101", "home": "/console"},
        {"nav": "", "languages": ""},
    )
    assert "<script>" not in html and "&lt;Анна &amp; Co&gt;" in html and "&quot;&gt;&lt;script&gt;" in html


def test_an_unknown_message_in_a_template_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(html_render, "_template", lambda _name: "<p>{{ t:console.no_such_words }}</p>")
    with pytest.raises(KeyError, match=r"console\.no_such_words"):
        html_render.render("any.html", "ru", {}, {})
