"""A real ``kolokol serve`` restarted (SIGTERM, and SIGKILL) while cloud PBX calls ring: the screens show
them again with caller, contacts and line, their next events update them, and the records and callback
tasks are what they would have been without the restart."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

import pytest

from tests.support.databases import reset_if_postgres
from tests.support.kolokol_process import Json, Kolokol, wait_for
from tests.support.providers import mango_office, zadarma

Restart = Literal["sigterm", "sigkill"]

MANGO_CALLER, MANGO_LINE = "79161234567", "74951110001"
ZADARMA_CALLER, ZADARMA_LINE = "79031112233", "74951110002"
ANNA, BORIS = "Анна Петрова", "Борис Орлов"


@pytest.fixture
def database(db_url: str) -> str:
    asyncio.run(reset_if_postgres(db_url))
    return db_url


def config(database: str) -> str:
    return f"""
[database]
url = "{database}"

[pbx.mango_office]
vpbx_api_key = "{mango_office.KEY}"
vpbx_api_salt = "{mango_office.SALT}"

[pbx.zadarma]
api_key = "{zadarma.KEY}"
api_secret = "{zadarma.SECRET}"

[lines."+{MANGO_LINE}"]
name = "Основная линия"
branch = "Центр"

[lines."+{ZADARMA_LINE}"]
name = "Линия для сайта"
"""


class Mango:
    """One inbound Mango call as Mango posts it: the caller in the IVR, then 101 and 102 ringing."""

    def __init__(self, kolokol: Kolokol, entry: str) -> None:
        self.kolokol = kolokol
        self.entry = entry
        self.start = int(time.time())

    def leg(self, leg: str, seq: int, state: str, location: str, to: dict[str, Any], **more: Any) -> None:
        self.post(
            "/events/call",
            {
                "entry_id": self.entry,
                "call_id": f"{self.entry}-{leg}",  # leg ids are unique across calls at Mango
                "timestamp": int(time.time()),
                "seq": seq,
                "call_state": state,
                "location": location,
                "from": {"number": MANGO_CALLER},
                "to": to,
                **more,
            },
        )

    def ring(self) -> None:
        self.leg("A", 1, "Appeared", "ivr", {"number": MANGO_LINE, "line_number": MANGO_LINE})
        self.leg("B", 1, "Appeared", "abonent", {"extension": "101"})
        self.leg("C", 1, "Appeared", "abonent", {"extension": "102"})

    def answer_on_101(self) -> None:
        self.leg("B", 2, "Connected", "abonent", {"extension": "101"})
        self.leg("C", 2, "Disconnected", "abonent", {"extension": "102"}, disconnect_reason=1110)

    def hang_up(self, talk: int) -> None:
        self.leg("B", 3, "Disconnected", "abonent", {"extension": "101"}, disconnect_reason=1120)
        self.post(
            "/events/summary",
            {
                "entry_id": self.entry,
                "call_direction": 1,
                "from": {"number": MANGO_CALLER},
                "to": {"extension": "101", "number": "sip:101@clinic.mangosip.ru"},
                "line_number": MANGO_LINE,
                "create_time": self.start,
                "forward_time": self.start + 2,
                "talk_time": self.start + 5,
                "end_time": self.start + 5 + talk,
                "entry_result": 1,
                "disconnect_reason": 1120,
            },
        )

    def post(self, path: str, payload: Json) -> None:
        status = self.kolokol.post(
            f"/webhooks/mango_office{path}", mango_office.form(payload), "application/x-www-form-urlencoded"
        )
        assert status == 200, (path, status)


class Zadarma:
    """One inbound Zadarma call, ringing 101."""

    def __init__(self, kolokol: Kolokol, call: str) -> None:
        self.kolokol = kolokol
        self.common = {
            "pbx_call_id": call,
            "caller_id": ZADARMA_CALLER,
            "called_did": ZADARMA_LINE,
            "call_start": zadarma.call_start(0),
        }

    def ring(self) -> None:
        self.post({"event": "NOTIFY_START"})
        self.post({"event": "NOTIFY_INTERNAL", "internal": "101"})

    def caller_gives_up(self) -> None:
        self.post(
            {
                "event": "NOTIFY_END",
                "duration": "0",
                "disposition": "cancel",
                "status_code": "16",
                "is_recorded": "0",
            }
        )

    def post(self, fields: dict[str, str]) -> None:
        event = {**self.common, **fields}
        body = urlencode(event).encode()
        status = self.kolokol.post(
            "/webhooks/zadarma", body, zadarma.FORM, headers={"Signature": zadarma.sign(event)}
        )
        assert status == 200, (fields, status)


def restart(kolokol: Kolokol, how: Restart) -> None:
    if how == "sigterm":
        assert kolokol.terminate() == 0, kolokol.log_tail()
    else:
        kolokol.kill()
    kolokol.start()


def on_screens(kolokol: Kolokol, *calls: str) -> dict[str, Json]:
    return wait_for(
        lambda: live if set(calls) <= set(live := kolokol.live_calls()) else None, f"{calls} on /api/live"
    )


def names(card: Json) -> list[str]:
    return [contact["name"] for contact in card["contacts"]]


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_cloud_calls_ringing_across_a_restart_come_back_and_end_as_without_it(
    database: str, tmp_path: Path, how: Restart
) -> None:
    kolokol = Kolokol(tmp_path, config(database))
    kolokol.start()
    try:
        kolokol.add_contact("p-anna", ANNA, f"+{MANGO_CALLER}")
        kolokol.add_contact("p-boris", BORIS, f"+{ZADARMA_CALLER}")
        console = kolokol.feed()
        mango, zadarma_call = Mango(kolokol, f"M-{how}"), Zadarma(kolokol, f"Z-{how}")
        mango.ring()
        zadarma_call.ring()
        on_screens(kolokol, mango.entry, "Z-" + how)
        console.wait("both calls ringing", lambda ms: len({m["call"]["pbx_call_id"] for m in ms}) == 2)

        restart(kolokol, how)
        assert console.wait_closed() == (1001 if how == "sigterm" else 1006)
        assert not [m for m in console.messages if m["type"] == "call.ended"], "a restart ends no call"

        live = on_screens(kolokol, mango.entry, "Z-" + how)
        m, z = live[mango.entry], live["Z-" + how]
        assert (m["call"]["state"], m["call"]["ringing"], m["call"]["number"]) == (
            "ringing",
            ["101", "102"],
            f"+{MANGO_CALLER}",
        )
        assert (names(m["card"]), m["card"]["line"]["name"]) == ([ANNA], "Основная линия")
        assert (z["call"]["state"], z["call"]["ringing"], z["call"]["number"]) == (
            "ringing",
            ["101"],
            f"+{ZADARMA_CALLER}",
        )
        assert (names(z["card"]), z["card"]["line"]["name"]) == ([BORIS], "Линия для сайта")
        assert kolokol.records() == {}, "nothing recorded of calls still ringing"

        # A console connected before the restart resumes: it is told to reload (/api/live, above).
        returning = kolokol.feed()
        returning.send({"type": "resume", "after": console.last_id})
        returning.wait("resync", lambda ms: any(msg["type"] == "resync" for msg in ms))
        returning.close()

        screen = kolokol.feed()
        mango.answer_on_101()
        [answered] = screen.wait("Mango's answer", lambda ms: [x for x in ms if x["type"] == "call.answered"])
        assert answered["call"]["pbx_call_id"] == mango.entry
        assert (answered["call"]["number"], answered["call"]["answered_by"]) == (f"+{MANGO_CALLER}", "101")
        assert (names(answered["card"]), answered["card"]["line"]["number"]) == ([ANNA], f"+{MANGO_LINE}")
        zadarma_call.caller_gives_up()
        mango.hang_up(talk=30)
        screen.wait("both calls ended", lambda ms: len([x for x in ms if x["type"] == "call.ended"]) == 2)
        for call_id in (mango.entry, "Z-" + how):
            kinds = [x["type"] for x in screen.about(call_id)]
            assert "call.ringing" not in kinds, f"{call_id}: its events update the call, they pop no new card"

        records = wait_for(lambda: r if len(r := kolokol.records()) == 2 else None, "both records")
        expect_record(
            records[mango.entry],
            status="answered",
            answered_by="101",
            rang=["101", "102"],
            caller=f"+{MANGO_CALLER}",
            called=f"+{MANGO_LINE}",
            talk_seconds=30.0,
            contacts=[ANNA],
            task=None,
        )
        expect_record(
            records["Z-" + how],
            status="missed",
            answered_by=None,
            rang=["101"],
            caller=f"+{ZADARMA_CALLER}",
            called=f"+{ZADARMA_LINE}",
            talk_seconds=0.0,
            contacts=[BORIS],
            task="open",
        )
        tasks = kolokol.get("/api/tasks")["items"]
        assert [(t["number"], t["status"], t["missed_calls"]) for t in tasks] == [
            (f"+{ZADARMA_CALLER}", "open", 1)
        ]
        screen.close()
    finally:
        if kolokol.proc is not None and kolokol.proc.poll() is None:
            kolokol.terminate()


def expect_record(record: Json, *, task: str | None, contacts: list[str], **fields: Any) -> None:
    assert {key: record[key] for key in fields} == fields, json.dumps(record, ensure_ascii=False)
    assert [c["name"] for c in record["contacts"]] == contacts
    assert (record["callback_task"] or {}).get("status") == task
    assert record["closed_by_timeout"] is False
