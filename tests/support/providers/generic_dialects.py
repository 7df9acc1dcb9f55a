"""The generic webhook's dialects (Sipuni, Telfin, OnlinePBX): the requests of typical calls."""

from __future__ import annotations

from typing import Any

TOKEN = "d" * 8 + "0123456789abcdef0123456789abcdef"
T = 1795420800  # 2026-11-24T00:00:00Z
Fields = dict[str, Any]


def sipuni_inbound_answered(call: str = "s1") -> list[Fields]:
    ring = {"event": "1", "call_id": call, "src_type": "1", "src_num": "79161234567", "dst_type": "2"}
    return [
        {**ring, "dst_num": "018315201", "short_dst_num": "201", "timestamp": T},
        {**ring, "dst_num": "018315202", "short_dst_num": "202", "timestamp": T},
        {**ring, "event": "3", "dst_num": "018315202", "short_dst_num": "202", "timestamp": T + 10},
        {
            "event": "2",
            "call_id": call,
            "src_type": "1",
            "src_num": "79161234567",
            "dst_type": "1",
            "dst_num": "74951110001_id265648",
            "pbxdstnum": "74951110001",
            "status": "ANSWER",
            "call_start_timestamp": T,
            "call_answer_timestamp": T + 10,
            "timestamp": T + 70,
            "last_called": "202",
            "call_record_link": f"https://sipuni.com/api/crm/record?id={call}&hash=abc",
        },
        {"event": "4", "call_id": call, "short_dst_num": "201", "status": "CANCEL", "timestamp": T + 10},
    ]


def telfin_leg(kind: str, ext: str, at: int, **extra: Any) -> Fields:
    return {
        "EventType": kind,
        "CallID": "t1",
        "SubCallID": f"{ext}-sub",
        "CallFlow": "in",
        "CallerIDNum": "+79161234567",
        "CallerIDName": "Пётр",
        "CalledDID": "74951110001",
        "CalledExtension": f"3515*{ext}@sipproxy.telphin.ru",
        "CalledNumber": f"3515*{ext}",
        "CallStatus": "CALLING",
        "EventTime": at * 1_000_000 + 123,
        **extra,
    }


def telfin_inbound_answered() -> list[Fields]:
    return [
        telfin_leg("dial-in", "101", T),
        telfin_leg("dial-in", "102", T),
        telfin_leg("answer", "102", T + 10, CallStatus="ANSWER"),
        telfin_leg("hangup", "101", T + 10, CallStatus="CANCEL"),
        telfin_leg("hangup", "102", T + 70, CallStatus="ANSWER", Duration=60_000_000, RecID="102-rec"),
    ]


def opbx(event: str, at: int, uuid: str = "p1", **extra: Any) -> Fields:
    inbound = {"caller": "79161234567", "callee": "101", "gateway": "74951110001"}
    return {"domain": "clinic.onpbx.ru", "event": event, "direction": "inbound", "uuid": uuid, "date": at} | (
        inbound | extra
    )


def opbx_inbound_answered() -> list[Fields]:
    return [
        opbx("call_start", T),
        opbx("call_answered", T + 10),
        opbx(
            "call_end",
            T + 70,
            dialog_duration=60,
            hangup_cause="NORMAL_CLEARING",
            download_url="https://api.onlinepbx.ru/rec/p1.mp3",
        ),
    ]
