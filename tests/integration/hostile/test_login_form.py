"""The login form with text no database can store: answered like a wrong password (which says nothing
about whether the user exists), never a 500, on both databases."""

from __future__ import annotations

import pytest

from tests.support.logins import ClientMaker, Clock, add_user, post_login, start_app


@pytest.mark.parametrize(
    ("username", "password"), [("an\x00na", "correct horse battery"), ("anna", "correct\x00horse battery")]
)
async def test_a_login_holding_a_nul_is_a_wrong_login(
    db_url: str, aiohttp_client: ClientMaker, username: str, password: str
) -> None:
    app, client = await start_app(db_url, aiohttp_client, Clock())
    await add_user(app, "anna", "operator")
    status, _, _ = await post_login(client, username, password)
    assert status == 401
    status, _, _ = await post_login(client, "anna")
    assert status == 303, "the form still works"
