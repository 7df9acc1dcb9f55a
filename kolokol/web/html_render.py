"""HTML from the templates in ``templates/``, for every page (login, console, supervisor, messages).

``{{ name }}`` is a value, escaped; ``{{ t:key }}`` a translation, escaped; ``{{ raw:name }}`` markup the
caller built itself (and escaped inside). Nothing else is substituted, so a template can hold no code.
"""

from __future__ import annotations

import html
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

from kolokol.web.i18n import MESSAGES, translate

TEMPLATES = Path(__file__).parent / "templates"
_PLACEHOLDER = re.compile(r"\{\{\s*(?:(t|raw):)?([a-z0-9_.]+)\s*\}\}")


@cache
def _template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def render(name: str, language: str, values: dict[str, str], raw: dict[str, str] | None = None) -> str:
    """Fill a template; every substituted value is escaped except the ``raw`` ones."""
    markup = raw or {}

    def fill(match: re.Match[str]) -> str:
        kind, key = match.group(1), match.group(2)
        if kind == "t":
            if key not in MESSAGES[language]:
                raise KeyError(f"{name}: no message {key!r}")
            return html.escape(translate(language, key))
        if kind == "raw":
            return markup[key]
        return html.escape(values[key])

    return _PLACEHOLDER.sub(fill, _template(name))


def json_for_script(data: Any) -> str:
    """JSON safe inside <script type="application/json">: no "</script>", no comment or entity tricks."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
