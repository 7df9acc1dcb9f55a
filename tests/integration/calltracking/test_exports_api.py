"""Exports for ad platforms over REST on SQLite and PostgreSQL: Yandex Metrica's offline calls (visitor
ids, Unix times, durations, static calls, its 21-day window) and Google Ads click conversions (gclid,
local times under the file's time zone), filters, forged ids left out, bad parameters and roles."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from kolokol.storage.tables import Call
from tests.support.clock import Clock
from tests.support.logins import Client, ClientMaker, start_app
from tests.support.tracking_reports import call, store, tokens

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
TODAY = NOW - timedelta(hours=3)


class Api:
    def __init__(self, app: web.Application, client: Client, tokens: dict[str, str]) -> None:
        self.app = app
        self.client = client
        self.tokens = tokens

    async def get(self, path: str, role: str = "marketer") -> tuple[int, str, Any]:
        async with self.client.get(path, headers={"Authorization": f"Bearer {self.tokens[role]}"}) as resp:
            if resp.content_type == "application/json":
                return resp.status, "", await resp.json()
            return resp.status, await resp.text(), dict(resp.headers)


@pytest.fixture
async def api(db_url: str, aiohttp_client: ClientMaker) -> Api:
    app, client = await start_app(
        db_url,
        aiohttp_client,
        Clock(NOW),
        tracking={"target_call_seconds": 60},
        http={"public_url": "https://kolokol.clinic.example"},
    )
    return Api(app, client, await tokens(app, "marketer", "manager", "operator"))


def visited(started: datetime, *, kind: str = "pool", **ids: str) -> Call:
    made = call(
        started, kind=kind, tracking_number="+74951110020", landing_page="https://clinic.example/implants"
    )
    made.attr_kind = kind
    made.source = {"kind": kind, "landing_page": "https://clinic.example/implants?utm_source=yandex", **ids}
    return made


def table(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def test_metrica_file_has_its_columns_and_only_calls_it_can_use(api: Api) -> None:
    answered = visited(TODAY - timedelta(days=1), ym_client_id="1700000000123456789")
    answered.first_time_caller = True
    missed = visited(TODAY - timedelta(days=2), yclid="9876543210")
    missed.status, missed.answered_at = "missed", None
    missed.ended_at = missed.started_at + timedelta(seconds=25)
    await store(
        api.app,
        [
            answered,
            missed,
            visited(TODAY - timedelta(days=3), kind="static"),
            visited(TODAY - timedelta(days=3), gclid="only-google"),  # nothing Metrica knows
            visited(TODAY - timedelta(days=3), ym_client_id="=HYPERLINK(1)"),  # forged
            visited(NOW - timedelta(days=22), ym_client_id="1700000000000000001"),  # older than 21 days
        ],
    )
    status, text, headers = await api.get(
        "/api/tracking/exports/yandex-metrica?from=2026-11-01&to=2026-12-03"
    )
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    rows = table(text)
    assert rows[0] == [
        "ClientId",
        "Yclid",
        "DateTime",
        "PhoneNumber",
        "StaticCall",
        "TalkDuration",
        "HoldDuration",
        "CallMissed",
        "FirstTimeCaller",
        "Tag",
        "URL",
        "CallTrackerURL",
    ]
    by_time = {int(r[2]): r for r in rows[1:]}
    assert len(by_time) == 3 and headers["X-Kolokol-Rows"] == "3"
    first = by_time[int(answered.started_at.timestamp())]
    assert first == [
        "1700000000123456789",
        "",
        str(int(answered.started_at.timestamp())),
        "+74951110020",
        "0",
        "120",
        "10",
        "0",
        "1",
        "target",
        "https://clinic.example/implants?utm_source=yandex",
        f"https://kolokol.clinic.example/api/calls/{answered.id}",
    ]
    second = by_time[int(missed.started_at.timestamp())]
    assert (second[1], second[5], second[6], second[7], second[9]) == ("9876543210", "0", "25", "1", "")
    static = [r for r in rows[1:] if r[4] == "1"]
    assert len(static) == 1 and static[0][:2] == ["", ""]
    # One identifier column, answered calls only, no static calls.
    _, text, _ = await api.get(
        "/api/tracking/exports/yandex-metrica?from=2026-11-01&ids=client_id&answered=1&static=0"
    )
    rows = table(text)
    assert rows[0][:2] == ["ClientId", "DateTime"] and len(rows) == 2


async def test_google_ads_file_has_the_time_zone_line_and_local_times(api: Api) -> None:
    clicked = visited(datetime(2026, 11, 30, 21, 30, tzinfo=UTC), gclid="Cj0KCQiA_abc-123")
    short = visited(datetime(2026, 11, 29, 9, 0, tzinfo=UTC), gclid="EAIaIQobChMI")
    assert short.answered_at is not None
    short.ended_at = short.answered_at + timedelta(seconds=20)
    await store(
        api.app,
        [
            clicked,
            short,
            visited(datetime(2026, 11, 29, 9, 0, tzinfo=UTC), gclid="-1+1"),  # forged
            visited(datetime(2026, 11, 29, 9, 0, tzinfo=UTC), ym_client_id="123"),  # not from Google
        ],
    )
    status, text, headers = await api.get(
        "/api/tracking/exports/google-ads?from=2026-11-01&to=2026-12-03&conversion_name=Звонок,%20целевой&value=1500.5"
    )
    assert status == 200 and headers["X-Kolokol-Rows"] == "2"
    lines = text.split("\r\n")
    assert lines[0] == "Parameters:TimeZone=Europe/Moscow"
    rows = table("\r\n".join(lines[1:]))
    assert rows[0] == [
        "Google Click ID",
        "Conversion Name",
        "Conversion Time",
        "Conversion Value",
        "Conversion Currency",
    ]
    # 21:30 UTC on 30 November is 00:30 on 1 December in Moscow.
    assert ["Cj0KCQiA_abc-123", "Звонок, целевой", "2026-12-01 00:30:00", "1500.5", "RUB"] in rows
    _, text, headers = await api.get(
        "/api/tracking/exports/google-ads?from=2026-11-01&conversion_name=call&target=1"
    )
    assert headers["X-Kolokol-Rows"] == "1"
    assert table(text.split("\r\n", 1)[1])[1][3:] == ["", "RUB"]


async def test_calls_attribution_is_unsure_of_stay_out_unless_asked_for(api: Api) -> None:
    sure = visited(datetime(2026, 11, 30, 9, 0, tzinfo=UTC), gclid="Cj0KCQiA_sure")
    guess = visited(datetime(2026, 11, 30, 10, 0, tzinfo=UTC), gclid="Cj0KCQiA_guess")
    guess.attr_confidence = 0.3
    await store(api.app, [sure, guess])
    base = "/api/tracking/exports/google-ads?from=2026-11-01&conversion_name=call"
    _, text, headers = await api.get(base)
    assert headers["X-Kolokol-Rows"] == "1" and "Cj0KCQiA_guess" not in text
    _, text, headers = await api.get(base + "&min_confidence=0.2")
    assert headers["X-Kolokol-Rows"] == "2" and "Cj0KCQiA_guess" in text


@pytest.mark.parametrize(
    "path",
    [
        "/api/tracking/exports/google-ads",
        "/api/tracking/exports/google-ads?conversion_name=",
        "/api/tracking/exports/google-ads?conversion_name=a&value=-1",
        "/api/tracking/exports/google-ads?conversion_name=a&value=NaN",
        "/api/tracking/exports/google-ads?conversion_name=a&currency=rubles",
        "/api/tracking/exports/google-ads?conversion_name=a&from=2020-01-01&to=2026-01-01",
        "/api/tracking/exports/yandex-metrica?ids=email",
        "/api/tracking/exports/yandex-metrica?answered=yes",
        "/api/tracking/exports/yandex-metrica?from=2026-11-31",
        "/api/tracking/exports/yandex-metrica?min_confidence=2",
        "/api/tracking/exports/google-ads?conversion_name=a&min_confidence=half",
    ],
)
async def test_bad_parameters_get_400(api: Api, path: str) -> None:
    status, _, body = await api.get(path)
    assert (status, body["error"]) == (400, "invalid-parameter")


async def test_roles(api: Api) -> None:
    for path in (
        "/api/tracking/exports/yandex-metrica",
        "/api/tracking/exports/google-ads?conversion_name=x",
    ):
        status, _, body = await api.get(path, "operator")
        assert (status, body["error"]) == (403, "forbidden")
        status, _, _ = await api.get(path, "manager")
        assert status == 200
