"""The login page and the small message pages around it (403), as HTML strings.

Every value is escaped (``kolokol.web.html_render``); the only markup passed through is the optional
error paragraph and the action buttons, built here from escaped text.
"""

from __future__ import annotations

import html
from urllib.parse import urlencode

from kolokol.settings import LANGUAGES
from kolokol.web.html_render import render
from kolokol.web.i18n import translate


def _language_href(language: str, next_path: str) -> str:
    query = {"lang": language}
    if next_path != "/console":
        query["next"] = next_path
    return "/login?" + urlencode(query)


def login_page(
    language: str, *, csrf: str, next_path: str, username: str = "", error_key: str | None = None
) -> str:
    error = ""
    if error_key is not None:
        message = html.escape(translate(language, error_key))
        error = f'<p class="login-error" role="alert">{message}</p>'
    values = {"lang": language, "csrf": csrf, "next": next_path, "username": username[:64]}
    for choice in LANGUAGES:
        values[f"{choice}_href"] = _language_href(choice, next_path)
        values[f"{choice}_current"] = "true" if choice == language else "false"
    return render("login.html", language, values, {"error": error})


def message_page(
    language: str,
    *,
    title_key: str,
    message_key: str,
    link: tuple[str, str] | None = None,
    logout_csrf: str | None = None,
) -> str:
    """A short page with one message, a link (href, message key) and a sign-out button when logged in."""
    actions = []
    if link is not None:
        href, key = link
        actions.append(
            f'<p><a class="button-primary" href="{html.escape(href)}">'
            f"{html.escape(translate(language, key))}</a></p>"
        )
    if logout_csrf is not None:
        label = html.escape(translate(language, "login.logout"))
        actions.append(
            '<form class="logout" method="post" action="/logout">'
            f'<input type="hidden" name="csrf" value="{html.escape(logout_csrf)}">'
            f'<button type="submit" class="button-secondary">{label}</button></form>'
        )
    return render(
        "auth_message.html",
        language,
        {
            "lang": language,
            "title": translate(language, title_key),
            "message": translate(language, message_key),
        },
        {"actions": "\n    ".join(actions)},
    )
