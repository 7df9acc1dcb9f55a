"""`kolokol replay` exactly as the contract says: raw captures and JSON arrays in, JSON lines out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.support.scripted_pbx import ScriptedPbx


def wire(events: list[dict[str, str]]) -> bytes:
    head = b"Asterisk Call Manager/11.0.0\r\n"
    return head + b"".join("".join(f"{k}: {v}\r\n" for k, v in e.items()).encode() + b"\r\n" for e in events)


def two_calls() -> ScriptedPbx:
    pbx = ScriptedPbx()
    first = pbx.inbound(caller="+79161234567")
    phone = pbx.ring(first, "101")
    pbx.wait(10)
    pbx.dial_end(first, phone, "CANCEL")
    pbx.hangup(phone, "0")
    pbx.hangup(first)
    pbx.wait(120)
    out = pbx.new("PJSIP/101", num="74951110000", exten="89161234567")
    trunk = pbx.new("PJSIP/trunk", linked=out)
    pbx.dial(out, trunk, "89161234567@trunk")
    pbx.wait(3)
    pbx.dial_end(out, trunk, "ANSWER")
    pbx.bridge(out, "b")
    pbx.bridge(trunk, "b")
    pbx.wait(30)
    pbx.hangup(trunk)
    pbx.hangup(out)
    return pbx


def kolokol(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kolokol", *args], capture_output=True, text=True, timeout=60, check=False
    )


def test_raw_capture_gives_records_with_tasks_closed_by_the_callback(tmp_path: Path) -> None:
    capture = tmp_path / "calls.ami"
    capture.write_bytes(wire(two_calls().events))
    result = kolokol("replay", str(capture))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["direction"] for r in records] == ["inbound", "outbound"], "ordered by started_at"
    missed, callback = records
    assert (missed["status"], missed["disposition"], missed["missed_where"]) == (
        "missed",
        "caller_hangup",
        "ringing",
    )
    assert missed["caller_name"] == "Иван Петров"
    assert missed["wait_seconds"] == 10
    assert missed["callback_task"]["status"] == "done", "the answered callback closed the task"
    assert missed["callback_task"]["closed_by_call_id"] == callback["id"]
    assert callback["talk_seconds"] == 30 and callback["called"] == "+79161234567"
    assert missed["started_at"].endswith("Z")


def test_json_events_without_timestamps_have_zero_durations(tmp_path: Path) -> None:
    events = [{k: v for k, v in e.items() if k != "Timestamp"} for e in two_calls().events]
    path = tmp_path / "calls.json"
    path.write_text(json.dumps(events, ensure_ascii=False), encoding="utf-8")
    result = kolokol("replay", str(path))
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 2
    assert all(r["wait_seconds"] == 0 and r["talk_seconds"] == 0 for r in records)


def test_unreadable_input_exits_2_with_one_line(tmp_path: Path) -> None:
    good = tmp_path / "good.ami"
    good.write_bytes(wire(two_calls().events))
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(bytes(range(256)) * 10)
    for bad in (str(garbage), str(tmp_path / "missing.ami")):
        result = kolokol("replay", str(good), bad)
        assert result.returncode == 2
        assert result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_replay_into_a_configured_database_keeps_the_calls(tmp_path: Path) -> None:
    config = tmp_path / "kolokol.toml"
    config.write_text(
        f'[database]\nurl = "sqlite+aiosqlite:///{tmp_path / "db.sqlite3"}"\n', encoding="utf-8"
    )
    capture = tmp_path / "calls.ami"
    capture.write_bytes(wire(two_calls().events))
    first = kolokol("replay", "--config", str(config), str(capture))
    again = kolokol("replay", "--config", str(config), str(capture))
    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    ids = [json.loads(line)["id"] for line in first.stdout.splitlines()]
    assert ids == [json.loads(line)["id"] for line in again.stdout.splitlines()], "the same calls, not copies"
