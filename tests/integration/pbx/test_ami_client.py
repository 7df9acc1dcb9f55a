from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from pbx.ami import AmiActionFailed, AmiActionTimeout, AmiClient, AmiMessage, AmiNotConnected
from tests.support.fake_ami import FakeAmi, encode

# Upper bound for "eventually": only there so a broken client fails instead
# of hanging; passing runs finish as soon as the condition holds.
EVENTUALLY = 10.0


async def eventually(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(EVENTUALLY):
        # Polling is deliberate: conditions span client and server state that
        # has no common event to wait on.
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


class Recorder:
    def __init__(self) -> None:
        self.events: list[AmiMessage] = []
        self.resyncs: list[list[AmiMessage]] = []
        self.order: list[str] = []
        self.fail_on: set[str] = set()

    async def on_event(self, event: AmiMessage) -> None:
        self.order.append(event.get("Event", "?"))
        if event.get("Event") in self.fail_on:
            raise RuntimeError("handler bug")
        # Yield inside the handler: ordering must hold even when handlers await.
        await asyncio.sleep(0)
        self.events.append(event)

    async def on_resync(self, channels: list[AmiMessage]) -> None:
        self.order.append("<resync>")
        self.resyncs.append(channels)

    def named(self, name: str) -> list[AmiMessage]:
        return [e for e in self.events if e.get("Event") == name]


@pytest.fixture
async def server() -> AsyncIterator[FakeAmi]:
    fake = FakeAmi()
    fake.channels = [
        {"Channel": "PJSIP/trunk-00000001", "Uniqueid": "1.1", "CallerIDName": "Мария"},
        {"Channel": "PJSIP/101-00000002", "Uniqueid": "1.2", "CallerIDName": "Reception"},
    ]
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


ClientFactory = Callable[..., Awaitable[AmiClient]]


@pytest.fixture
async def make_client(server: FakeAmi, recorder: Recorder) -> AsyncIterator[ClientFactory]:
    clients: list[AmiClient] = []

    async def make(**overrides: object) -> AmiClient:
        options: dict[str, object] = {
            "host": "127.0.0.1",
            "port": server.port,
            "username": "kolokol",
            "secret": "s3cret",
            "on_event": recorder.on_event,
            "on_resync": recorder.on_resync,
            "action_timeout": 1.0,
            # Generous ping timeout so a loaded CI box does not cause spurious
            # reconnects; the silent-server test overrides it.
            "ping_interval": 0.1,
            "ping_timeout": 2.0,
            "backoff_initial": 0.01,
            "backoff_max": 0.05,
        }
        options.update(overrides)
        client = AmiClient(**options)  # type: ignore[arg-type]
        clients.append(client)
        await client.start()
        return client

    yield make
    for client in clients:
        await client.stop()


async def logged_in(client: AmiClient, recorder: Recorder, resyncs: int = 1) -> None:
    await eventually(lambda: client.logged_in and len(recorder.resyncs) >= resyncs)


async def test_login_then_resync_with_channels(make_client: ClientFactory, recorder: Recorder) -> None:
    client = await make_client()
    await logged_in(client, recorder)
    assert [c["Uniqueid"] for c in recorder.resyncs[0]] == ["1.1", "1.2"]
    assert recorder.resyncs[0][0]["CallerIDName"] == "Мария"
    again = await client.core_show_channels()
    assert [c["Uniqueid"] for c in again] == ["1.1", "1.2"]


async def test_cyrillic_caller_name_split_across_writes(
    server: FakeAmi, make_client: ClientFactory, recorder: Recorder
) -> None:
    client = await make_client()
    await logged_in(client, recorder)
    data = encode({"Event": "Newchannel", "CallerIDName": "Иван Петров", "Uniqueid": "2.1"})
    inside_i = data.index("Иван".encode()) + 1  # between the two bytes of "И"
    await server.push(data, split_at=[inside_i, inside_i + 3, len(data) - 1])
    await eventually(lambda: bool(recorder.named("Newchannel")))
    assert recorder.named("Newchannel")[0]["CallerIDName"] == "Иван Петров"


async def test_events_arrive_in_order(
    server: FakeAmi, make_client: ClientFactory, recorder: Recorder
) -> None:
    client = await make_client()
    await logged_in(client, recorder)
    burst = b"".join(encode({"Event": "UserEvent", "Seq": str(i)}) for i in range(200))
    await server.push(burst, split_at=[1000, 5001])
    await eventually(lambda: len(recorder.named("UserEvent")) == 200)
    assert [e["Seq"] for e in recorder.named("UserEvent")] == [str(i) for i in range(200)]


async def test_only_the_registered_events_reach_the_handler(
    server: FakeAmi, make_client: ClientFactory, recorder: Recorder
) -> None:
    """A PBX whose filter lets everything through (no eventfilter lines) costs kolokol nothing more."""
    client = await make_client(events={"Hangup", "DialBegin"})
    await logged_in(client, recorder)
    names = ["Newexten", "DialBegin", "VarSet", "Hangup", "RTCPSent", "Hangup"]
    await server.push(b"".join(encode({"Event": name, "Seq": str(i)}) for i, name in enumerate(names)))
    await eventually(lambda: len(recorder.events) == 3)
    await client.core_show_channels()  # anything else would have arrived before this reply
    assert [(e["Event"], e["Seq"]) for e in recorder.events] == [
        ("DialBegin", "1"),
        ("Hangup", "3"),
        ("Hangup", "5"),
    ]
    assert recorder.resyncs, "action replies (the resync snapshot) are not filtered"


async def test_handler_exception_does_not_drop_connection(
    server: FakeAmi,
    make_client: ClientFactory,
    recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    recorder.fail_on = {"Boom"}
    client = await make_client()
    await logged_in(client, recorder)
    with caplog.at_level(logging.ERROR, logger="kolokol.ami"):
        await server.event({"Event": "Boom"})
        await server.event({"Event": "After"})
        await eventually(lambda: bool(recorder.named("After")))
    assert recorder.order[-2:] == ["Boom", "After"]
    assert server.connections == 1
    assert client.connections == 1
    assert client.logged_in
    assert "handler failed" in caplog.text
    assert "s3cret" not in caplog.text


async def test_resync_failure_in_handler_is_swallowed(
    make_client: ClientFactory, recorder: Recorder, server: FakeAmi
) -> None:
    async def bad_resync(channels: list[AmiMessage]) -> None:
        raise RuntimeError("resync bug")

    client = await make_client(on_resync=bad_resync)
    await eventually(lambda: client.logged_in)
    await server.event({"Event": "After"})
    await eventually(lambda: bool(recorder.named("After")))
    assert server.connections == 1


async def test_action_without_reply_times_out(
    server: FakeAmi, make_client: ClientFactory, recorder: Recorder
) -> None:
    client = await make_client()
    await logged_in(client, recorder)
    server.unanswered_actions.add("Status")
    with pytest.raises(AmiActionTimeout):
        await client.send_action({"Action": "Status"}, timeout=0.05)
    # The session is still usable afterwards.
    assert len(await client.core_show_channels()) == 2


async def test_send_action_when_not_connected_raises() -> None:
    async def ignore(_: object) -> None:
        return None

    client = AmiClient(host="127.0.0.1", port=1, username="u", secret="s", on_event=ignore, on_resync=ignore)
    with pytest.raises(AmiNotConnected):
        await client.send_action({"Action": "Ping"})


async def test_silent_server_is_detected_and_reconnected(
    server: FakeAmi, make_client: ClientFactory, recorder: Recorder
) -> None:
    client = await make_client(ping_timeout=0.2)
    await logged_in(client, recorder)
    server.answer_pings = False
    await eventually(lambda: server.connections >= 2)
    server.answer_pings = True
    await eventually(lambda: client.connections >= 2 and client.logged_in and len(recorder.resyncs) >= 2)


async def test_server_restart_reconnects_and_resyncs(
    server: FakeAmi, make_client: ClientFactory, recorder: Recorder
) -> None:
    client = await make_client()
    await logged_in(client, recorder)
    await server.stop()
    await eventually(lambda: not client.logged_in)
    server.channels = [{"Channel": "PJSIP/102-00000003", "Uniqueid": "3.1"}]
    await server.start()
    await logged_in(client, recorder, resyncs=2)
    assert [c["Uniqueid"] for c in recorder.resyncs[-1]] == ["3.1"]
    await server.event({"Event": "AfterRestart"})
    await eventually(lambda: bool(recorder.named("AfterRestart")))
    # The snapshot is delivered before any event of the new session.
    assert recorder.order.index("<resync>", recorder.order.index("<resync>") + 1) < recorder.order.index(
        "AfterRestart"
    )


async def test_garbage_bytes_do_not_kill_anything(
    server: FakeAmi, make_client: ClientFactory, recorder: Recorder
) -> None:
    client = await make_client()
    await logged_in(client, recorder)
    await server.push(b"\x00\xff\xfe\x80garbage without colon\r\n\xd0\r\n\r\n")
    await server.push(b"Not-AMI: header only\r\n\r\n")
    await server.event({"Event": "StillAlive"})
    await eventually(lambda: bool(recorder.named("StillAlive")))
    assert server.connections == 1
    assert client.logged_in
    assert [e.get("Event") for e in recorder.events] == ["StillAlive"]


async def test_bad_secret_is_logged_and_retried(
    server: FakeAmi, make_client: ClientFactory, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="kolokol.ami"):
        client = await make_client(secret="wrong-secret")
        await eventually(lambda: server.connections >= 3)
    assert not client.logged_in
    assert server.logins == 0
    assert recorder.resyncs == []
    assert "rejected" in caplog.text
    assert "wrong-secret" not in caplog.text


async def test_connection_refused_retries_until_server_appears(
    recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeAmi()
    port = fake.reserve()
    client = AmiClient(
        host="127.0.0.1",
        port=port,
        username="kolokol",
        secret="s3cret",
        on_event=recorder.on_event,
        on_resync=recorder.on_resync,
        backoff_initial=0.01,
        backoff_max=0.05,
    )
    caplog.set_level(logging.WARNING, logger="kolokol.ami")
    await client.start()
    try:
        # Refused, and tried again, before anything listens.
        await eventually(lambda: sum("connect to" in r.getMessage() for r in caplog.records) >= 2)
        assert not client.logged_in
        await fake.start()
        await logged_in(client, recorder)
    finally:
        await client.stop()
        await fake.stop()


async def test_stop_is_clean_and_idempotent(make_client: ClientFactory, recorder: Recorder) -> None:
    client = await make_client()
    await logged_in(client, recorder)
    await client.stop()
    assert not client.logged_in
    await client.stop()


async def test_error_response_raises_action_failed(make_client: ClientFactory, recorder: Recorder) -> None:
    client = await make_client()
    await logged_in(client, recorder)
    with pytest.raises(AmiActionFailed) as info:
        await client.send_action({"Action": "NoSuchAction"})
    assert info.value.response["Message"] == "Invalid/unknown command"
    assert client.logged_in


async def test_late_reply_after_timeout_is_ignored(
    server: FakeAmi, make_client: ClientFactory, recorder: Recorder
) -> None:
    client = await make_client()
    await logged_in(client, recorder)
    server.unanswered_actions.add("Status")
    with pytest.raises(AmiActionTimeout):
        await client.send_action({"Action": "Status"}, timeout=0.05)
    late_id = server.actions[-1]["ActionID"]
    await server.push(encode({"Response": "Success", "ActionID": late_id, "Message": "late"}))
    await server.event({"Event": "AfterLate"})
    await eventually(lambda: bool(recorder.named("AfterLate")))
    assert server.connections == 1


async def test_shutdown_event_triggers_reconnect(
    server: FakeAmi, make_client: ClientFactory, recorder: Recorder
) -> None:
    client = await make_client()
    await logged_in(client, recorder)
    await server.event({"Event": "Shutdown", "Shutdown": "Cleanly", "Restart": "True"})
    await eventually(lambda: client.connections >= 2 and len(recorder.resyncs) >= 2)
    assert server.connections >= 2
