"""The login page and the small message pages around it (403), as HTML strings.

``string.Template`` with every value escaped: the only markup that is not escaped is the optional error
paragraph, which is built here from an escaped message.
"""

from __future__ import annotations

import html
from functools import cache
from importlib import resources
from string import Template
from urllib.parse import urlencode

from kolokol.web.i18n import LANGUAGES, translate


@cache
def _template(name: str) -> Template:
    return Template(resources.files("kolokol.web").joinpath("templates", name).read_text(encoding="utf-8"))


def _fill(name: str, values: dict[str, str], markup: dict[str, str] | None = None) -> str:
    escaped = {key: html.escape(value, quote=True) for key, value in values.items()}
    return _template(name).substitute(escaped, **(markup or {}))


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
    values = {
        "lang": language,
        "title": translate(language, "login.title"),
        "product": translate(language, "common.product"),
        "heading": translate(language, "login.heading"),
        "csrf": csrf,
        "next": next_path,
        "username_label": translate(language, "login.username"),
        "username": username[:64],
        "password_label": translate(language, "login.password"),
        "submit": translate(language, "login.submit"),
        "language_label": translate(language, "common.language"),
    }
    for choice in LANGUAGES:
        values[f"{choice}_href"] = _language_href(choice, next_path)
        values[f"{choice}_current"] = "true" if choice == language else "false"
        values[f"{choice}_name"] = translate(language, f"login.language_{choice}")
    return _fill("login.html", values, {"error": error})


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
    return _fill(
        "auth_message.html",
        {
            "lang": language,
            "title": translate(language, title_key),
            "product": translate(language, "common.product"),
            "message": translate(language, message_key),
        },
        {"actions": "\n    ".join(actions)},
    )
