"""The REST API against hostile input: every answer is the JSON error contract with a 4xx that names
what is wrong, nothing changes, and nothing is a 500."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import func, select

from kolokol.app_keys import SESSIONS, SETTINGS
from kolokol.calls.wiring import make_pipeline
from kolokol.contacts.limits import (
    MAX_FIELD_NAME_CHARS,
    MAX_FIELD_VALUE_CHARS,
    MAX_FIELDS,
    MAX_NAME_CHARS,
    MAX_PHONE_CHARS,
    MAX_PHONES,
)
from kolokol.http.errors import MAX_JSON_BODY_BYTES
from kolokol.storage.tables import CallbackTask, Contact
from tests.support.call_records import missed
from tests.support.hostile import Api, ClientMaker, api_for

NUMBER = "+79161234567"


@pytest.fixture
async def api(db_url: str, aiohttp_client: ClientMaker) -> Api:
    api = await api_for(db_url, aiohttp_client)
    # One missed call at 2026-11-23T09:00Z, with its callback task.
    await make_pipeline(api.app[SETTINGS], api.app[SESSIONS]).record(missed(1, NUMBER))
    return api


def contact(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "Анна Смирнова",
        "phones": ["8 916 123-45-67"],
        "fields": {"curator": "Ольга"},
        **overrides,
    }


async def contacts_stored(api: Api) -> int:
    async with api.app[SESSIONS]() as session:
        return int(await session.scalar(select(func.count()).select_from(Contact)) or 0)


# ---- paging and filters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params"),
    [
        *(
            (path, params)
            for path in ("/api/calls", "/api/tasks")
            for params in (
                {"limit": "²"},
                {"limit": "①"},
                {"limit": "٣"},  # an Arabic-Indic three: str.isdigit() and int() both take it
                {"offset": "9" * 5000},
                {"status": "a\x00b"},
            )
        ),
        ("/api/calls", {"from": "9999-12-31T23:59:59-23:59"}),
        ("/api/calls", {"to": "0001-01-01T00:00:00+23:59"}),
        ("/api/calls", {"number": "\x00"}),
        ("/api/contacts", {"phone": "\ud800"}),
    ],
)
async def test_paging_and_filters_that_are_no_numbers_or_times_are_400s(
    api: Api, path: str, params: dict[str, str]
) -> None:
    status, body = await api.call("GET", path, params=params)
    assert status == 400, body
    assert body["error"] in ("invalid-parameter", "invalid-text")
    assert set(body) == {"error", "message", "details"}


async def test_a_time_with_an_offset_is_compared_in_utc(api: Api) -> None:
    # The call started at 09:00Z = 12:00 in Moscow.
    _, body = await api.call("GET", "/api/calls", params={"from": "2026-11-23T11:59:00+03:00"})
    assert body["total"] == 1
    _, body = await api.call("GET", "/api/calls", params={"from": "2026-11-23T12:01:00+03:00"})
    assert body["total"] == 0


# ---- JSON bodies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "error", "field"),
    [
        ('{"name": ' + "[" * 5000 + "]" * 5000 + "}", "invalid-json", None),
        ('{"name": "Анна", "phones": [' + "9" * 5000 + "]}", "invalid-json", None),
        ('{"name": "Анна", "fields": {"age": 1e999}}', "invalid-json", None),
        ('{"name": "Анна", "fields": {"age": NaN}}', "invalid-json", None),
        ('{"name": "\\ud800"}', "invalid-field", "name"),
        ('{"name": "Анна", "phones": ["\\udfff"]}', "invalid-field", "phones[0]"),
        ('{"name": "Анна", "fields": {"note": "a\\u0000b"}}', "invalid-field", "fields.note"),
        ('{"name": "Анна", "fields": {"\\ud800": "x"}}', "invalid-field", "fields"),
        (b'{"name": "\xff"}', "invalid-json", None),
    ],
)
async def test_contact_json_that_cannot_be_stored_is_refused_naming_the_field(
    api: Api, text: str | bytes, error: str, field: str | None
) -> None:
    status, body = await api.send_json_text("PUT", "/api/contacts/crm-1", text)
    assert (status, body["error"]) == (400, error), body
    assert body["details"].get("field") == field
    status, body = await api.send_json_text("POST", "/api/contacts", text)
    assert (status, body["error"]) == (400, error), body
    assert await contacts_stored(api) == 0


async def test_task_and_click_to_call_bodies_are_checked_the_same_way(api: Api) -> None:
    _, tasks = await api.call("GET", "/api/tasks")
    task_id = tasks["items"][0]["id"]
    for text, field in (
        ('{"resolution": "done", "note": "\\ud800"}', "note"),
        ('{"assignee": "a\\u0000"}', "assignee"),
    ):
        action = "complete" if "resolution" in text else "assign"
        status, body = await api.send_json_text("POST", f"/api/tasks/{task_id}/{action}", text)
        assert (status, body["error"], body["details"]) == (400, "invalid-field", {"field": field})
    status, body = await api.send_json_text(
        "POST", f"/api/tasks/{task_id}/complete", '{"resolution": "done", "n": ' + "1" * 5000 + "}"
    )
    assert (status, body["error"]) == (400, "invalid-json")
    async with api.app[SESSIONS]() as session:
        task = await session.get(CallbackTask, task_id)
        assert task is not None and (task.status, task.note, task.assignee) == ("open", None, None)
    status, body = await api.send_json_text(
        "POST", "/api/calls/originate", '{"extension": "101", "number": "\\ud800"}'
    )
    assert (status, body["details"]) == (400, {"field": "number"})


# ---- sizes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (contact(name="Я" * (MAX_NAME_CHARS + 1)), "name"),
        (contact(phones=["+7916123456" + str(n % 10) for n in range(MAX_PHONES + 1)]), "phones"),
        (contact(phones=["8" * (MAX_PHONE_CHARS + 1)]), "phones[0]"),
        (contact(fields={f"f{n}": "x" for n in range(MAX_FIELDS + 1)}), "fields"),
        (contact(fields={"x" * (MAX_FIELD_NAME_CHARS + 1): "x"}), "fields.…"),
        (contact(fields={"note": "Я" * (MAX_FIELD_VALUE_CHARS + 1)}), "fields.note"),
        (contact(name="   "), "name"),
    ],
)
async def test_a_contact_over_the_limits_is_refused_naming_the_field(
    api: Api, body: dict[str, Any], field: str
) -> None:
    status, reply = await api.call("PUT", "/api/contacts/crm-1", json=body)
    assert (status, reply["error"], reply["details"]) == (400, "invalid-field", {"field": field})
    assert await contacts_stored(api) == 0


async def test_a_contact_at_every_limit_is_stored_and_comes_back_whole(api: Api) -> None:
    body = contact(
        name="Я" * MAX_NAME_CHARS,
        phones=[f"+7 916 123-45-{n:02d}" for n in range(MAX_PHONES)],
        fields={f"{n:0{MAX_FIELD_NAME_CHARS}d}": "Ж" * MAX_FIELD_VALUE_CHARS for n in range(MAX_FIELDS)},
    )
    status, reply = await api.call("PUT", "/api/contacts/" + "i" * 200, json=body)
    assert status == 201, reply
    status, stored = await api.call("GET", "/api/contacts/" + "i" * 200)
    assert status == 200 and stored["name"] == body["name"] and len(stored["phones"]) == MAX_PHONES
    assert all(stored[key] == value for key, value in body["fields"].items())


async def test_ids_in_the_url_that_no_contact_can_have_are_not_500s(api: Api) -> None:
    status, body = await api.call("PUT", "/api/contacts/" + "i" * 201, json=contact())
    assert (status, body["details"]) == (400, {"field": "external_id"})
    status, body = await api.call("GET", "/api/contacts/" + "i" * 5000)
    assert (status, body["error"]) == (404, "no-such-contact")
    status, body = await api.call("GET", "/api/contacts/a%00b")
    assert (status, body["error"]) == (400, "invalid-text")
    status, body = await api.call("GET", "/api/calls/a%00b")
    assert (status, body["error"]) == (400, "invalid-text")


async def test_a_body_over_the_limit_is_413(api: Api) -> None:
    text = json.dumps(contact(fields={"note": "x" * (MAX_JSON_BODY_BYTES + 1)}))
    status, body = await api.send_json_text("PUT", "/api/contacts/crm-1", text)
    assert (status, body["error"]) == (413, "body-too-large")


# ---- races ---------------------------------------------------------------------------------------


async def test_twenty_clients_creating_one_contact_at_once_get_one_201_and_200s(api: Api) -> None:
    replies = await asyncio.gather(
        *(
            api.call("PUT", "/api/contacts/crm-7", json=contact(phones=[f"+7916123450{n % 10}"]))
            for n in range(20)
        )
    )
    statuses = sorted(status for status, _ in replies)
    assert statuses == [200] * 19 + [201], replies
    assert await contacts_stored(api) == 1
    status, stored = await api.call("GET", "/api/contacts/crm-7")
    assert status == 200 and len(stored["phones"]) == 1, "the last writer's phone list, whole"


async def test_twenty_new_contacts_posted_at_once_are_twenty_contacts(api: Api) -> None:
    replies = await asyncio.gather(*(api.call("POST", "/api/contacts", json=contact()) for _ in range(20)))
    assert [status for status, _ in replies] == [201] * 20, replies
    assert len({body["contact"]["external_id"] for _, body in replies}) == 20
    _, found = await api.call("GET", "/api/contacts", params={"phone": NUMBER})
    assert len(found["items"]) == 20
