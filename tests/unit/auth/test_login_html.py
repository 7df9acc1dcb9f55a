"""The login page's pieces: where a login may lead, its words in both languages, escaping, CLI choices."""

from __future__ import annotations

import re

import pytest

from kolokol.auth.form_body import safe_next
from kolokol.auth.login_html import login_page, message_page
from kolokol.web.i18n import LANGUAGES, MESSAGES


@pytest.mark.parametrize(
    "local", ["/console", "/console/supervisor?tab=tasks&x=%2F%2Fevil", "/console#calls", "/api/me"]
)
def test_local_paths_are_followed(local: str) -> None:
    assert safe_next(local) == local


@pytest.mark.parametrize(
    "foreign",
    [
        None,
        "",
        "//evil.example",
        "///evil.example",
        "/\\evil.example",
        "/x\\..\\..\\evil",
        "https://evil.example/console",
        "javascript:alert(1)",
        "data:text/html,<script>",
        "console",
        "/\t/evil.example",
        "/\n/evil.example",
        "/ /evil.example",
        "/\x00",
        "/консоль",
        "/" + "a" * 3000,
        "/login",
        "/logout",
    ],
)
def test_anything_else_leads_to_the_console(foreign: str | None) -> None:
    assert safe_next(foreign) == "/console"


def test_every_login_word_exists_in_both_languages() -> None:
    keys = {language: {k for k in MESSAGES[language] if k.startswith("login.")} for language in LANGUAGES}
    assert keys["ru"] == keys["en"] and len(keys["ru"]) > 10
    assert all(MESSAGES[language][key].strip() for language in LANGUAGES for key in keys[language])
    assert MESSAGES["ru"]["login.failed"] == "Неверное имя пользователя или пароль"


def test_the_page_escapes_every_value_and_leaves_no_placeholder() -> None:
    page = login_page(
        "en",
        csrf='"><b>',
        next_path="/console?a=1&b=<2>",
        username="<script>x</script>",
        error_key="login.failed",
    )
    assert "<script>x" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert 'value="&quot;&gt;&lt;b&gt;"' in page
    assert 'value="/console?a=1&amp;b=&lt;2&gt;"' in page
    assert '<p class="login-error" role="alert">Wrong username or password</p>' in page
    assert not re.search(r"\$\w", page), "every $placeholder was filled"
    assert "login-error" not in login_page("ru", csrf="c", next_path="/console")


def test_the_page_is_accessible_html() -> None:
    page = login_page("ru", csrf="c", next_path="/console")
    for field in ("username", "password"):
        assert f'<label for="{field}">' in page and f'id="{field}"' in page
    assert re.search(r'<input id="username"[^>]*autofocus', page)
    assert 'class="login-form"' in page and 'class="button-primary"' in page
    assert 'class="language-switch"' in page and 'aria-current="true">Русский' in page


def test_message_pages_escape_and_offer_a_way_on() -> None:
    page = message_page(
        "ru",
        title_key="login.forbidden_title",
        message_key="login.forbidden",
        link=("/console", "login.to_console"),
        logout_csrf='"x"',
    )
    assert "Нет доступа" in page and 'href="/console"' in page and 'value="&quot;x&quot;"' in page
