"""The pages' words in Russian (the default) and English. One table, served to the browser as JSON too.

Keys are grouped by page ("login.", "console.", "supervisor.", "common."); every key exists in both
languages (a test checks it), so a missing translation is a failed test, not a blank button.
"""

from __future__ import annotations

LANGUAGES = ("ru", "en")
LANGUAGE_COOKIE = "kolokol_lang"

MESSAGES: dict[str, dict[str, str]] = {
    "ru": {
        # -- common --
        "common.product": "kolokol",
        "common.language": "Язык",
        # -- login --
        # -- console --
    },
    "en": {
        # -- common --
        "common.product": "kolokol",
        "common.language": "Language",
        # -- login --
        # -- console --
    },
}


def pick_language(requested: str | None, remembered: str | None, default: str) -> str:
    """An explicit choice (?lang=), then the remembered one (cookie), then the configured default.

    The browser's Accept-Language is ignored on purpose: reception PCs often run an English Windows
    while the staff read Russian, so Russian stays the default until someone picks English.
    """
    for choice in (requested, remembered):
        if choice in LANGUAGES:
            return choice
    return default


def translate(language: str, key: str) -> str:
    return MESSAGES.get(language, MESSAGES["ru"]).get(key, key)
