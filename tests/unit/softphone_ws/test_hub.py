"""The feed's pure core: ids, the resume window, encoding, commands, authorization."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from softphone_ws.feed_tokens import FeedGrant
from softphone_ws.hub import (
    FeedMessage,
    Forbidden,
    Hub,
    Ping,
    ProtocolError,
    Resume,
    Subscribe,
    Subscription,
    authorize,
    parse_command,
)

AT = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)


def ring(hub: Hub, extension: str = "101", queue: str = "reception") -> FeedMessage:
    return hub.append("call.ringing", AT, [extension], [queue], {"call": {"caller": "+79161234567"}})


def test_ids_are_consecutive_after_the_base() -> None:
    hub = Hub(id_base=0)
    assert hub.last_id == "0"
    assert [ring(hub).id for _ in range(3)] == ["1", "2", "3"]
    assert hub.last_id == "3"


def test_a_fresh_hub_numbers_above_an_older_one() -> None:
    # The default base is the clock in microseconds: a restarted process never reuses old ids.
    older = Hub()
    ring(older)
    assert int(Hub().last_id) >= int(older.last_id)


def test_since_returns_the_missed_messages_in_order() -> None:
    hub = Hub(id_base=100)
    messages = [ring(hub) for _ in range(5)]
    assert hub.since("102") == messages[2:]
    assert hub.since("105") == []
    assert hub.since("100") == messages


def test_since_is_none_once_the_id_left_the_window_or_is_unknown() -> None:
    hub = Hub(window=3, id_base=0)
    messages = [ring(hub) for _ in range(5)]  # keeps 3, 4, 5
    assert hub.since("2") == messages[2:]  # the oldest resumable point: everything after it is kept
    assert hub.since("1") is None
    assert hub.since("6") is None  # from the future, e.g. another process
    for garbage in ["", "abc", "-1", "1e3", "٣", "9" * 40]:
        assert hub.since(garbage) is None


def test_encode_puts_the_payload_beside_id_type_and_time() -> None:
    hub = Hub(id_base=0)
    moscow = timezone(timedelta(hours=3))
    message = hub.append("call.answered", AT.astimezone(moscow), ["101"], [], {"call": {"operator": "101"}})
    assert json.loads(message.frame) == {
        "id": "1",
        "type": "call.answered",
        "at": "2026-03-02T09:30:15.123Z",
        "call": {"operator": "101"},
    }


@pytest.mark.parametrize(
    ("kind", "at", "payload"),
    [
        ("call.exploded", AT, {}),
        ("call.ringing", AT.replace(tzinfo=None), {}),
        ("call.ringing", AT, {"id": "mine"}),
        ("call.ringing", AT, {"card": object()}),
    ],
)
def test_append_refuses_what_it_could_not_encode(kind: str, at: datetime, payload: dict[str, object]) -> None:
    with pytest.raises((ValueError, TypeError)):
        Hub().append(kind, at, [], [], payload)  # type: ignore[arg-type]


def test_subscription_matches_extensions_queues_or_everything() -> None:
    message = ring(Hub(), extension="101", queue="reception")
    assert Subscription(extensions=frozenset({"101", "103"})).matches(message)
    assert not Subscription(extensions=frozenset({"102"})).matches(message)
    assert Subscription(queues=frozenset({"reception"})).matches(message)
    assert not Subscription(queues=frozenset({"surgery"})).matches(message)
    assert Subscription(everything=True).matches(message)


def test_parse_command_reads_the_three_commands() -> None:
    assert parse_command('{"type":"ping"}') == Ping()
    assert parse_command('{"type":"resume","after":"42"}') == Resume("42")
    assert parse_command('{"type":"subscribe","extensions":["101","101"],"queues":["q1"]}') == Subscribe(
        Subscription(frozenset({"101"}), frozenset({"q1"}), everything=False)
    )
    assert parse_command('{"type":"subscribe","all":true,"future_field":1}') == Subscribe(
        Subscription(everything=True)
    )


@pytest.mark.parametrize(
    "frame",
    [
        b'{"type":"ping"}',
        "",
        "not json",
        "[1, 2]",
        '"ping"',
        "{}",
        '{"type":"shout"}',
        '{"type":7}',
        '{"type":"resume"}',
        '{"type":"resume","after":42}',
        '{"type":"resume","after":""}',
        '{"type":"subscribe"}',
        '{"type":"subscribe","extension":["101"]}',
        '{"type":"subscribe","extensions":"101"}',
        '{"type":"subscribe","extensions":[101]}',
        '{"type":"subscribe","extensions":[""]}',
        '{"type":"subscribe","extensions":["' + "1" * 33 + '"]}',
        '{"type":"subscribe","queues":{"q":1}}',
        '{"type":"subscribe","all":1}',
        '{"type":"subscribe","all":"true"}',
        json.dumps({"type": "subscribe", "extensions": [str(n) for n in range(51)]}),
    ],
)
def test_parse_command_rejects_garbage(frame: str | bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_command(frame)


def grant(role: str, *extensions: str) -> FeedGrant:
    # kolokol issues tokens for every call to managers and admins only (kolokol.auth.roles).
    every_call = role in ("manager", "admin")
    return FeedGrant(subject="u", role=role, extensions=extensions, expires_at=AT, every_call=every_call)


def test_operators_see_their_phones_and_queues_but_not_everything() -> None:
    operator = grant("operator", "101", "102")
    authorize(operator, Subscription(extensions=frozenset({"101"})))
    authorize(operator, Subscription(extensions=frozenset({"101", "102"}), queues=frozenset({"reception"})))
    authorize(operator, Subscription(queues=frozenset({"reception"})))
    with pytest.raises(Forbidden):
        authorize(operator, Subscription(extensions=frozenset({"101", "103"})))
    with pytest.raises(Forbidden):
        authorize(operator, Subscription(everything=True))


@pytest.mark.parametrize("role", ["manager", "admin"])
def test_supervisors_see_anything(role: str) -> None:
    authorize(grant(role), Subscription(everything=True))
    authorize(grant(role), Subscription(extensions=frozenset({"999"})))


def test_a_grant_for_some_phones_sees_no_others_whatever_its_role() -> None:
    with pytest.raises(Forbidden):
        authorize(grant("manager-by-name-only", "101"), Subscription(everything=True))
    with pytest.raises(Forbidden):
        authorize(grant("admin-by-name-only", "101"), Subscription(extensions=frozenset({"102"})))
