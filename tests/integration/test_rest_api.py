"""The REST API as the CRM and the operators' tools use it: tokens, roles, filters, tasks, contacts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from kolokol.app import make_app
from kolokol.app_keys import SESSIONS, SETTINGS
from kolokol.auth.tokens import create_token
from kolokol.calls.wiring import make_pipeline
from kolokol.settings import Settings
from tests.support.call_records import missed
from tests.support.databases import reset_if_postgres

ClientMaker = Callable[[web.Application], Awaitable[TestClient[web.Request, web.Application]]]


class Api:
    def __init__(self, client: TestClient[web.Request, web.Application], tokens: dict[str, str]) -> None:
        self.client = client
        self.tokens = tokens

    async def call(self, method: str, path: str, role: str = "admin", **kw: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        headers.update(kw.pop("headers", {}))
        async with self.client.request(method, path, headers=headers, **kw) as resp:
            return resp.status, await resp.json()


@pytest.fixture
async def api(db_url: str, aiohttp_client: ClientMaker) -> Api:
    await reset_if_postgres(db_url)
    app = make_app(Settings.model_validate({"database": {"url": db_url}, "feed": {"port": 0}}))
    client = await aiohttp_client(app)
    tokens = {}
    async with app[SESSIONS].begin() as session:
        for role in ("admin", "marketer", "operator"):
            tokens[role] = await create_token(session, name=f"{role}-user", role=role)
    pipeline = make_pipeline(app[SETTINGS], app[SESSIONS])
    await pipeline.record(missed(1, "+79161234567"))
    await pipeline.record(missed(2, "+79031112233", minutes=3))
    return Api(client, tokens)


async def test_health_and_readiness_without_asterisk(api: Api) -> None:
    assert await api.call("GET", "/healthz", role="") == (200, {"status": "ok"})
    status, body = await api.call("GET", "/readyz", role="")
    # No Asterisk configured: AMI is no component to wait for (nor to report).
    assert status == 200 and body["components"] == {"database": True}


async def test_tokens_are_required_and_checked(api: Api) -> None:
    status, body = await api.call("GET", "/api/calls", role="")
    assert (status, body["error"]) == (401, "unauthenticated")
    async with api.client.get("/api/calls", headers={"Authorization": "Bearer kk_forged"}) as resp:
        assert resp.status == 401
        assert (await resp.json())["error"] == "invalid-token"
    status, body = await api.call("GET", "/api/tasks", role="marketer")
    assert (status, body["error"]) == (403, "forbidden")


async def test_call_log_filters_and_paging(api: Api) -> None:
    status, body = await api.call("GET", "/api/calls")
    assert status == 200 and body["total"] == 2
    assert [c["caller"] for c in body["items"]] == ["+79031112233", "+79161234567"], "newest first"
    _, body = await api.call("GET", "/api/calls", params={"number": "8 (916) 123-45-67"})
    assert [c["pbx_call_id"] for c in body["items"]] == ["1.1"]
    _, body = await api.call("GET", "/api/calls", params={"from": "2026-11-23T09:01:00Z", "status": "missed"})
    assert [c["pbx_call_id"] for c in body["items"]] == ["1.2"]
    _, body = await api.call("GET", "/api/calls", params={"limit": "1", "offset": "1"})
    assert [c["pbx_call_id"] for c in body["items"]] == ["1.1"] and body["total"] == 2
    call = body["items"][0]
    assert call["started_at"] == "2026-11-23T09:00:00.000Z"
    assert call["wait_seconds"] == 10 and call["talk_seconds"] == 0
    assert call["callback_task"]["status"] == "open"
    status, one = await api.call("GET", f"/api/calls/{call['id']}")
    assert status == 200 and one == call


@pytest.mark.parametrize(
    "params",
    [
        {"direction": "sideways"},
        {"from": "yesterday"},
        {"limit": "0"},
        {"limit": "-5"},
        {"offset": "1e9"},
        {"number": "9" * 500},
        {"status": "'; DROP TABLE calls; --"},
    ],
)
async def test_hostile_query_strings_get_a_clear_400(api: Api, params: dict[str, str]) -> None:
    status, body = await api.call("GET", "/api/calls", params=params)
    assert (status, body["error"]) == (400, "invalid-parameter")
    _, body = await api.call("GET", "/api/calls")
    assert body["total"] == 2


async def test_unknown_call_is_a_404_with_a_slug(api: Api) -> None:
    status, body = await api.call("GET", "/api/calls/nope")
    assert (status, body["error"]) == (404, "no-such-call")


async def test_operator_works_the_callback_list(api: Api) -> None:
    status, body = await api.call("GET", "/api/tasks", role="operator", params={"status": "open"})
    assert status == 200 and body["total"] == 2
    first = body["items"][0]
    assert first["number"] == "+79161234567", "the most overdue comes first"
    status, task = await api.call("POST", f"/api/tasks/{first['id']}/assign", role="operator", json={})
    assert (status, task["assignee"]) == (200, "operator-user")
    status, task = await api.call(
        "POST",
        f"/api/tasks/{first['id']}/complete",
        role="operator",
        json={"resolution": "unreachable", "note": "не берёт трубку"},
    )
    assert (status, task["status"], task["resolution"]) == (200, "done", "unreachable")
    status, body = await api.call("POST", f"/api/tasks/{first['id']}/complete", role="operator", json={})
    assert (status, body["error"]) == (409, "task-closed")
    _, second = await api.call("GET", "/api/tasks", params={"status": "open"})
    status, body = await api.call(
        "POST",
        f"/api/tasks/{second['items'][0]['id']}/complete",
        role="operator",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert (status, body["error"]) == (400, "invalid-json")
    _, still = await api.call("GET", f"/api/tasks/{second['items'][0]['id']}", role="operator")
    assert still["status"] == "open", "a bad request changes nothing"


async def test_contacts_upsert_and_lookup_by_any_spelling(api: Api) -> None:
    status, body = await api.call(
        "PUT",
        "/api/contacts/crm-42",
        json={
            "name": "Анна Смирнова",
            "phones": ["8 916 123-45-67", "nonsense"],
            "fields": {"patient_status": "пациент", "curator": "Ольга"},
        },
    )
    assert status == 201 and body["rejected_phones"] == ["nonsense"]
    assert body["contact"]["phones"] == ["+79161234567"]
    status, body = await api.call("PUT", "/api/contacts/crm-42", json={"name": "Анна Смирнова", "phones": []})
    assert status == 200 and body["contact"]["phones"] == []
    async with api.client.get(
        "/api/contacts/crm-42", headers={"Authorization": f"Bearer {api.tokens['admin']}"}
    ) as resp:
        raw = await resp.read()
    assert "Анна Смирнова".encode() in raw and b"\\u04" not in raw, "names readable as they are, in UTF-8"
    assert resp.headers["Content-Type"] == "application/json; charset=utf-8"
    status, body = await api.call("PUT", "/api/contacts/crm-42", json={"name": 5})
    assert (status, body["error"]) == (400, "invalid-field")
    async with api.client.put(
        "/api/contacts/crm-43", data="x", headers={"Authorization": f"Bearer {api.tokens['admin']}"}
    ) as resp:
        assert resp.status == 415
    await api.call("PUT", "/api/contacts/crm-44", json={"name": "Борис", "phones": ["+79161234567"]})
    status, body = await api.call("GET", "/api/contacts", params={"phone": "89161234567"})
    assert [c["external_id"] for c in body["items"]] == ["crm-44"]
