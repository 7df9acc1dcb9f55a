"""A real ``kolokol serve`` restarted (SIGTERM, and SIGKILL) while calls ring on the real Asterisk: the
screens show them again with caller, contacts and line, a call that began while kolokol was down shows
too, a call that ended while it was down is recorded once, and every other record equals what
``kolokol replay`` makes of the whole AMI traffic, as if kolokol had never stopped (no premature missed
call, no extra task, nothing lost)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import pytest

from kolokol.calls.replay import assemble
from kolokol.settings import Settings
from kolokol.times import iso
from pbx.ami_framing import parse_capture
from pbx.call_record import PbxCallRecord
from tests.support import asterisk_harness as h
from tests.support.databases import reset_if_postgres
from tests.support.kolokol_process import Json, Kolokol, wait_for

pytestmark = pytest.mark.asterisk

Restart = Literal["sigterm", "sigkill"]
RINGALL_LINE, LINE_103 = "+74951110001", "+74951110004"
# (number as the provider sends it, caller ID name, contact): A rings 101 & 102; B, C and D ring 103.
# A is answered after the restart, B missed; C calls while kolokol is down, D gives up while it is down.
A = ("79161234567", "Anna P", "Анна Петрова")
B = ("79031112233", "Boris O", "Борис Орлов")
C = ("79265554433", "Vera S", "Вера Смирнова")
D = ("79857778899", "Dmitry K", "Дмитрий Кузнецов")


@pytest.fixture
def database(db_url: str) -> str:
    asyncio.run(reset_if_postgres(db_url))
    return db_url


def config(database: str) -> str:
    ami = h.kolokol_ami_settings()
    return f"""
[database]
url = "{database}"

[pbx.asterisk]
host = "{ami["host"]}"
port = {ami["port"]}
username = "{ami["username"]}"
secret = "{ami["secret"]}"

[lines."{RINGALL_LINE}"]
name = "Основная линия"

[lines."{LINE_103}"]
name = "Прямая линия 103"
"""


@pytest.fixture
def pbx(asterisk: None) -> Iterator[h.AmiClient]:
    """The harness's Asterisk with phones 101, 102 and 103 that ring until the caller goes away, and ring
    groups that ring for ten minutes: every call here rings until the test ends it."""
    with ExitStack() as stack:
        ami = stack.enter_context(h.AmiClient())
        ami.action("Setvar", Variable="RING_TIMEOUT", Value="600")
        stack.callback(ami.action, "Setvar", Variable="RING_TIMEOUT", Value="20")
        for extension in ("101", "102", "103"):
            phone = h.phone("uas_ring", extension)
            stack.callback(phone.stop)
            ip = h.PHONE_IP[extension]
            wait_for(lambda: h.udp_bound(ip), f"phone {extension} listening")  # noqa: B023 - used at once
        yield ami
        for channel in ami.channels():
            ami.action("Hangup", Channel=channel["Channel"])
        ami.wait_no_channels(30)


def call_in(stack: ExitStack, who: tuple[str, str, str], did: str, port: int) -> h.Sipp:
    """A patient calls the clinic's number from the provider's trunk (each caller on a port of its own)."""
    number, name, _ = who
    uac = h.run_sipp(
        "uac_call",
        "-s",
        did,
        "-m",
        "1",
        "-d",
        "3000",
        bind_ip=h.TRUNK_IP,
        remote=h.ASTERISK_SIP,
        keys={"cid_num": number, "cid_name": name},
        port=port,
        log_name=f"uac-{number}",
    )
    stack.callback(uac.stop)
    return uac


def on_the_pbx(ami: h.AmiClient, callers: list[h.Sipp]) -> str:
    """What Asterisk and the callers' SIPp say, for a test that gave up waiting on them."""
    channels = [f"{c.get('Channel')} {c.get('ChannelStateDesc')} {c.get('Linkedid')}" for c in ami.channels()]
    return "\n".join(["channels:", *channels, *(f"{uac.cmd}:\n{uac.output()[-1500:]}" for uac in callers)])


def ringing(ami: h.AmiClient) -> dict[str, int]:
    """How many calls ring each phone now."""
    phones: dict[str, int] = {}
    for channel in ami.channels():
        name = channel.get("Channel", "")
        if name.startswith("PJSIP/") and channel.get("ChannelStateDesc") == "Ringing":
            endpoint = name[len("PJSIP/") :].rpartition("-")[0]
            phones[endpoint] = phones.get(endpoint, 0) + 1
    return phones


def wait_ringing(ami: h.AmiClient, callers: list[h.Sipp], what: str, **phones: int) -> None:
    wanted = {extension.removeprefix("p"): calls for extension, calls in phones.items()}
    wait_for(lambda: ringing(ami) == wanted, what, explain=lambda: on_the_pbx(ami, callers), every=0.2)


def hang_up_caller(ami: h.AmiClient, pbx_call_id: str) -> None:
    """The patient gives up: their leg (the trunk's) hangs up while the phones ring."""
    [channel] = [
        c["Channel"]
        for c in ami.channels()
        if c.get("Linkedid") == pbx_call_id and c.get("Channel", "").startswith("PJSIP/trunk-")
    ]
    ami.action("Hangup", Channel=channel)


def by_caller(live: dict[str, Json]) -> dict[str, Json]:
    return {entry["call"]["number"]: entry for entry in live.values()}


def screens_show(kolokol: Kolokol, *callers: tuple[str, str, str]) -> dict[str, Json]:
    wanted = {f"+{number}" for number, _, _ in callers}

    def shown() -> dict[str, Json] | None:
        calls = by_caller(kolokol.live_calls())
        return calls if wanted <= set(calls) and all(c["card"] for c in calls.values()) else None

    return wait_for(shown, f"{wanted} on /api/live")


def expect_card(
    entry: Json, who: tuple[str, str, str], ringing: list[str], line: str, line_name: str
) -> None:
    number, name, contact = who
    call, card = entry["call"], entry["card"]
    assert (call["state"], call["ringing"], call["caller"], call["caller_name"]) == (
        "ringing",
        ringing,
        f"+{number}",
        name,
    )
    assert (call["called"], card["line"]["number"], card["line"]["name"]) == (line, line, line_name)
    assert [c["name"] for c in card["contacts"]] == [contact]


FIELDS = (
    "direction",
    "caller",
    "caller_name",
    "called",
    "status",
    "disposition",
    "missed_where",
    "operator",
    "answered_by",
    "rang",
    "transfers",
    "answered_at",
    "ended_at",
    "closed_by_timeout",
)


def as_recorded(record: PbxCallRecord) -> dict[str, Any]:
    fields = {name: getattr(record, name) for name in FIELDS}
    fields["rang"] = list(record.rang)
    fields["transfers"] = list(record.transfers)
    fields["answered_at"] = iso(record.answered_at)
    fields["ended_at"] = iso(record.ended_at)
    return fields


def started(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@pytest.mark.parametrize("how", ["sigterm", "sigkill"])
def test_asterisk_calls_ringing_across_a_restart_come_back_and_are_recorded_as_without_it(
    pbx: h.AmiClient, database: str, tmp_path: Path, how: Restart
) -> None:
    ami = pbx
    with ExitStack() as stack:
        recorder = stack.enter_context(h.AmiRecorder(tmp_path / "traffic.ami"))
        kolokol = Kolokol(tmp_path, config(database))
        kolokol.start()
        stack.callback(
            lambda: kolokol.proc is not None and kolokol.proc.poll() is None and kolokol.terminate()
        )
        wait_for(lambda: kolokol.api("GET", "/readyz")[0] == 200, "kolokol logged in to AMI")
        for n, (number, _, contact) in enumerate((A, B, C, D)):
            kolokol.add_contact(f"p-{n}", contact, f"+{number}")
        console = kolokol.feed()

        # One caller at a time: the harness copies the SIPp scenarios afresh whenever a SIPp starts, so a
        # SIPp started a moment before another could read a half-copied scenario.
        callers = [call_in(stack, A, h.DID_RINGALL, 5061)]
        wait_ringing(ami, callers, "A ringing", p101=1, p102=1)
        callers.append(call_in(stack, B, h.DID_103, 5062))
        wait_ringing(ami, callers, "B ringing", p101=1, p102=1, p103=1)
        callers.append(call_in(stack, D, h.DID_103, 5064))
        wait_ringing(ami, callers, "D ringing", p101=1, p102=1, p103=2)
        before = screens_show(kolokol, A, B, D)
        a_id, b_id, d_id = (before[f"+{who[0]}"]["call"]["pbx_call_id"] for who in (A, B, D))

        if how == "sigterm":
            assert kolokol.terminate() == 0, kolokol.log_tail()
        else:
            kolokol.kill()
        assert console.wait_closed() == (1001 if how == "sigterm" else 1006)
        assert not [m for m in console.messages if m["type"] == "call.ended"], "a restart ends no call"
        # While kolokol is down, D gives up and C calls 103.
        hang_up_caller(ami, d_id)
        wait_ringing(ami, callers, "D gone", p101=1, p102=1, p103=1)
        callers.append(call_in(stack, C, h.DID_103, 5063))
        wait_ringing(ami, callers, "C ringing", p101=1, p102=1, p103=2)
        kolokol.start()

        after = screens_show(kolokol, A, B, C)
        expect_card(after[f"+{A[0]}"], A, ["101", "102"], RINGALL_LINE, "Основная линия")
        expect_card(after[f"+{B[0]}"], B, ["103"], LINE_103, "Прямая линия 103")
        expect_card(after[f"+{C[0]}"], C, ["103"], LINE_103, "Прямая линия 103")
        assert [(k, v["call"]["started_at"]) for k, v in after.items() if k != f"+{C[0]}"] == [
            (k, v["call"]["started_at"]) for k, v in before.items() if k != f"+{D[0]}"
        ], "the calls that rang before the restart keep their start"
        assert f"+{D[0]}" not in after
        c_id = after[f"+{C[0]}"]["call"]["pbx_call_id"]
        gave_up = wait_for(kolokol.records, "D recorded")
        assert list(gave_up) == [d_id], "only the call that ended while kolokol was down is recorded"

        screen = kolokol.feed()
        hang_up_caller(ami, b_id)
        hang_up_caller(ami, c_id)
        screen.wait(
            "B and C ended",
            lambda ms: {b_id, c_id} <= {m["call"]["pbx_call_id"] for m in ms if m["type"] == "call.ended"},
        )
        picker = h.caller("uac_wait_bye", "*8", cid_num="104", cid_name="", bind_ip=h.PHONE_IP["104"])
        stack.callback(picker.stop)
        [answered] = screen.wait("A answered", lambda ms: [m for m in ms if m["type"] == "call.answered"])
        assert (answered["call"]["pbx_call_id"], answered["call"]["answered_by"]) == (a_id, "104")
        assert [c["name"] for c in answered["card"]["contacts"]] == [A[2]]
        assert answered["card"]["line"]["name"] == "Основная линия"
        screen.wait(
            "A ended",
            lambda ms: any(m["type"] == "call.ended" and m["call"]["pbx_call_id"] == a_id for m in ms),
        )
        for call_id in (a_id, b_id, c_id):
            assert "call.ringing" not in [m["type"] for m in screen.about(call_id)], (
                "no new card for a known call"
            )

        records = wait_for(lambda: r if len(r := kolokol.records()) == 4 else None, "four records")
        ami.wait_no_channels(30)
        recorder.wait_for_quiet(1.0)
        replayed = {
            r.pbx_call_id: r for r in assemble([parse_capture(recorder.path.read_bytes())], Settings())
        }
        assert sorted(replayed) == sorted(records) == sorted([a_id, b_id, c_id, d_id])
        for call_id in (a_id, b_id, c_id):
            assert {k: records[call_id][k] for k in FIELDS} == as_recorded(replayed[call_id]), call_id
        # D ended unseen: recorded once, with what kolokol knew, ending when kolokol saw it gone.
        assert {k: v for k, v in records[d_id].items() if k in FIELDS and k != "ended_at"} == {
            k: v for k, v in as_recorded(replayed[d_id]).items() if k != "ended_at"
        }
        assert started(records[d_id]["ended_at"]) >= replayed[d_id].ended_at
        assert records[a_id]["started_at"] == iso(replayed[a_id].started_at)
        assert records[b_id]["started_at"] == iso(replayed[b_id].started_at)
        # C was first seen in Asterisk's list of live channels, which counts a channel's age in seconds.
        assert abs((started(records[c_id]["started_at"]) - replayed[c_id].started_at).total_seconds()) <= 1
        statuses = [records[i]["status"] for i in (a_id, b_id, c_id, d_id)]
        assert statuses == ["answered", "missed", "missed", "missed"]
        tasks = kolokol.get("/api/tasks")["items"]
        assert sorted((t["number"], t["status"], t["missed_calls"]) for t in tasks) == sorted(
            [(f"+{B[0]}", "open", 1), (f"+{C[0]}", "open", 1), (f"+{D[0]}", "open", 1)]
        ), "one task per missed call; none for the call answered after the restart"
        screen.close()
