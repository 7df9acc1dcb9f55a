"""The benchmark's PBX: an AMI server kolokol logs in to, the rings it writes the way Asterisk 22 sends
them (from a recorded capture, fresh ids and a seeded caller per call), and the patient export whose
numbers the callers use."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
import time
from dataclasses import dataclass
from pathlib import Path

from feed_latency_common import AMI_USERNAME, EXTENSION, ROOT, BrokenRun

CAPTURE = ROOT / "tests" / "fixtures" / "ami" / "caller_hangup_while_ringing.ami"


# -- the wire: a ring as Asterisk sends it ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BenchCall:
    linkedid: str
    phone_uniqueid: str
    trunk_channel: str
    phone_channel: str
    number: str  # as the trunk reports it: 79161234567
    name: str


def ami_fields(block: str) -> dict[str, str]:
    """An AMI message's headers; of a repeated one (ChanVariable) the first, which is all this needs."""
    fields: dict[str, str] = {}
    for line in block.split("\r\n"):
        key, sep, value = line.partition(": ")
        if sep and key not in fields:
            fields[key] = value
    return fields


class RingTemplate:
    """The capture's events for one phone leg, with its ids, caller and times replaced per call.

    Taken from a real capture rather than written by hand so that each event carries every header
    Asterisk sends (channel variables, connected line, Dest* fields): the server parses what it would
    parse in a clinic.
    """

    # (Event, which header names the leg, whose leg) in the order Asterisk sent them.
    _PRE = (
        ("Newchannel", "Channel", "trunk"),
        ("MixMonitorStart", "Channel", "trunk"),
        ("Newchannel", "Channel", "phone"),
        ("NewConnectedLine", "Channel", "phone"),
    )
    _DIAL = (("DialBegin", "DestChannel", "phone"), ("Newstate", "Channel", "phone"))
    _END = (
        ("DialEnd", "DestChannel", "phone"),
        ("Hangup", "Channel", "phone"),
        ("Hangup", "Channel", "trunk"),
    )

    def __init__(self, capture: Path) -> None:
        # Bytes, not read_text(): universal newlines would turn the wire's CRLF into LF.
        blocks = [b for b in capture.read_bytes().decode().split("\r\n\r\n") if b.strip()]
        heads = [ami_fields(b) for b in blocks]
        trunk = next(h for h in heads if h.get("Event") == "Newchannel" and "/trunk" in h["Channel"])
        phone = next(h for h in heads if h.get("Event") == "Newchannel" and f"/{EXTENSION}-" in h["Channel"])
        legs = {"trunk": trunk["Channel"], "phone": phone["Channel"]}
        # Placeholders that cannot occur in AMI text; longest originals first, so none replaces part of
        # another.
        marks = {
            trunk["Uniqueid"]: "\x00L\x00",
            phone["Uniqueid"]: "\x00P\x00",
            trunk["Channel"]: "\x00TC\x00",
            phone["Channel"]: "\x00PC\x00",
            trunk["CallerIDNum"]: "\x00N\x00",
            trunk["CallerIDName"]: "\x00NAME\x00",
        }
        pattern = re.compile("|".join(re.escape(k) for k in sorted(marks, key=len, reverse=True)))

        def pick(wanted: tuple[tuple[str, str, str], ...]) -> str:
            out: list[str] = []
            start = 0
            for event, header, leg in wanted:
                for i in range(start, len(blocks)):
                    if heads[i].get("Event") == event and heads[i].get(header) == legs[leg]:
                        text = pattern.sub(lambda m: marks[m.group(0)], blocks[i])
                        out.append(re.sub(r"(?m)^Timestamp: .*$", "Timestamp: \x00T\x00", text) + "\r\n\r\n")
                        start = i + 1
                        break
                else:
                    raise SystemExit(f"{capture}: no {event} on the {leg} leg; re-record the fixture")
            return "".join(out)

        self._pre, self._dial, self._end = pick(self._PRE), pick(self._DIAL), pick(self._END)

    @staticmethod
    def _fill(text: str, call: BenchCall) -> bytes:
        stamp = f"{time.time():.6f}"
        for mark, value in (
            ("\x00L\x00", call.linkedid),
            ("\x00P\x00", call.phone_uniqueid),
            ("\x00TC\x00", call.trunk_channel),
            ("\x00PC\x00", call.phone_channel),
            ("\x00NAME\x00", call.name),
            ("\x00N\x00", call.number),
            ("\x00T\x00", stamp),
        ):
            text = text.replace(mark, value)
        return text.encode()

    def pre(self, call: BenchCall) -> bytes:
        return self._fill(self._pre, call)

    def dial(self, call: BenchCall) -> bytes:
        return self._fill(self._dial, call)

    def end(self, call: BenchCall) -> bytes:
        return self._fill(self._end, call)


class BenchAmi:
    """Just enough of an Asterisk manager for kolokol to log in, resynchronise, ping and get events."""

    def __init__(self, secret: str) -> None:
        self._secret = secret
        self._server: asyncio.Server | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.logins = 0
        self.logged_in = asyncio.Event()

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        # Closing a session's socket ends its reader with EOF: the session returns instead of being
        # cancelled (asyncio reports a cancelled connection handler as an error).
        for writer in list(self._writers):
            writer.close()
        if self._sessions:
            await asyncio.wait(self._sessions, timeout=5)
        if self._server is not None:
            await self._server.wait_closed()

    async def send(self, data: bytes) -> None:
        writer = self._writer
        if writer is None or writer.is_closing():
            raise BrokenRun("kolokol is not connected to the AMI")
        writer.write(data)
        await writer.drain()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions.add(task)
        self._writers.add(writer)
        try:
            writer.write(b"Asterisk Call Manager/11.0.0\r\n")
            while True:
                action = ami_fields((await reader.readuntil(b"\r\n\r\n")).decode()[:-4])
                writer.write(self._answer(action, writer))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._sessions.discard(task)
            self._writers.discard(writer)
            if self._writer is writer:
                self._writer = None
                self.logged_in.clear()
            writer.close()

    def _answer(self, action: dict[str, str], writer: asyncio.StreamWriter) -> bytes:
        ident = f"ActionID: {action.get('ActionID', '')}\r\n"
        name = action.get("Action", "")
        if name == "Login":
            if action.get("Username") != AMI_USERNAME or action.get("Secret") != self._secret:
                return f"Response: Error\r\n{ident}Message: Authentication failed\r\n\r\n".encode()
            self._writer = writer
            self.logins += 1
            self.logged_in.set()
            return f"Response: Success\r\n{ident}Message: Authentication accepted\r\n\r\n".encode()
        if name == "Ping":
            return f"Response: Success\r\n{ident}Ping: Pong\r\nTimestamp: {time.time():.6f}\r\n\r\n".encode()
        if name == "CoreShowChannels":
            # Nothing is up when kolokol (re)connects: the bench rings only once it is logged in.
            return (
                f"Response: Success\r\n{ident}EventList: start\r\nMessage: Channels will follow\r\n\r\n"
                f"Event: CoreShowChannelsComplete\r\n{ident}EventList: Complete\r\nListItems: 0\r\n\r\n"
            ).encode()
        return f"Response: Error\r\n{ident}Message: Invalid/unknown command\r\n\r\n".encode()


class Switchboard:
    """Makes the calls: fresh ids per call, callers drawn from the seeded numbers."""

    def __init__(
        self, ami: BenchAmi, template: RingTemplate, callers: list[tuple[str, str]], seed: int
    ) -> None:
        self._ami = ami
        self._template = template
        self._callers = callers
        self._rng = random.Random(seed)
        self._base = int(time.time())
        self._seq = 0
        self.sent: dict[str, int] = {}  # linkedid -> time_ns right before its DialBegin was written
        self._hangups: set[asyncio.Task[None]] = set()

    def _next(self) -> BenchCall:
        self._seq += 2
        number, name = self._rng.choice(self._callers)
        return BenchCall(
            linkedid=f"{self._base}.{self._seq}",
            phone_uniqueid=f"{self._base}.{self._seq + 1}",
            trunk_channel=f"PJSIP/trunk-{self._seq:08x}",
            phone_channel=f"PJSIP/{EXTENSION}-{self._seq + 1:08x}",
            number=number,
            name=name,
        )

    async def ring(self) -> BenchCall:
        call = self._next()
        await self._ami.send(self._template.pre(call))
        dial = self._template.dial(call)
        self.sent[call.linkedid] = time.time_ns()
        await self._ami.send(dial)
        return call

    async def hang_up(self, call: BenchCall) -> None:
        await self._ami.send(self._template.end(call))

    def hang_up_later(self, call: BenchCall, delay: float) -> None:
        async def later() -> None:
            await asyncio.sleep(delay)
            # A lost AMI connection is reported by the ringing side (the next ring, or the liveness check
            # while waiting for deliveries); a hang-up has nobody to tell.
            with contextlib.suppress(BrokenRun):
                await self.hang_up(call)

        task = asyncio.create_task(later())
        self._hangups.add(task)
        task.add_done_callback(self._hangups.discard)

    async def hangups_sent(self) -> None:
        if self._hangups:
            await asyncio.gather(*self._hangups)

    async def cancel_hangups(self) -> None:
        """The run is ending early: hang-ups still waiting would only write to a server being stopped."""
        pending = list(self._hangups)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


# -- contacts: a clinic's patient export --------------------------------------------------------------

_MEN = ("Иван", "Алексей", "Дмитрий", "Сергей", "Андрей", "Михаил", "Николай", "Павел", "Артём", "Егор")
_WOMEN = ("Анна", "Мария", "Елена", "Ольга", "Наталья", "Татьяна", "Ирина", "Светлана", "Екатерина", "Юлия")
_FATHERS = (
    "Иван",
    "Сергее",
    "Александр",
    "Дмитрие",
    "Андрее",
    "Михайл",
    "Николае",
    "Петр",
    "Юрье",
    "Викторо",
)
_SURNAMES = (
    "Петров",
    "Иванов",
    "Смирнов",
    "Кузнецов",
    "Попов",
    "Соколов",
    "Лебедев",
    "Козлов",
    "Новиков",
    "Морозов",
    "Волков",
    "Соловьёв",
    "Васильев",
    "Зайцев",
    "Павлов",
    "Семёнов",
    "Голубев",
    "Виноградов",
    "Богданов",
    "Воробьёв",
)
_STATUSES = ("Активный", "Лечение", "Профилактика", "Архив")
_CURATORS = ("Анна Петрова", "Ольга Смирнова", "Мария Кузнецова")


def _person(rng: random.Random) -> str:
    surname, father = rng.choice(_SURNAMES), rng.choice(_FATHERS)
    if rng.random() < 0.55:
        ending = "вна" if father.endswith(("е", "о")) else "овна"
        return f"{surname}а {rng.choice(_WOMEN)} {father}{ending}"
    ending = "вич" if father.endswith(("е", "о")) else "ович"
    return f"{surname} {rng.choice(_MEN)} {father}{ending}"


def _mobile(rng: random.Random, taken: set[str]) -> str:
    while True:
        number = f"79{rng.choice(('16', '03', '26', '85', '77'))}{rng.randrange(10_000_000):07d}"
        if number not in taken:
            taken.add(number)
            return number


def _as_written(number: str, rng: random.Random) -> str:
    """A number the way clinic exports spell them."""
    d = number[1:]
    return rng.choice(
        (f"+7 ({d[:3]}) {d[3:6]}-{d[6:8]}-{d[8:]}", f"8 {d[:3]} {d[3:6]}-{d[6:8]}-{d[8:]}", f"+7{d}", f"8{d}")
    )


def contacts_export(count: int, callers: int, seed: int) -> tuple[str, list[tuple[str, str]]]:
    """A patient export (semicolon CSV, Russian headers) and the callers: (number as the trunk sends it,
    caller ID name). About a tenth of the callers are in no contact (first-time callers)."""
    rng = random.Random(seed)
    taken: set[str] = set()
    rows = ["Код;ФИО;Телефон;Статус;Последний визит;Куратор;Комментарий"]
    primary: list[tuple[str, str]] = []
    for n in range(count):
        name = _person(rng)
        if primary and rng.random() < 0.1:
            number = primary[-1][0]  # a child on a parent's phone: one number, two contacts
        else:
            number = _mobile(rng, taken)
            primary.append((number, name))
        phones = [_as_written(number, rng)]
        if rng.random() < 0.15:
            phones.append(
                f"8 495 {rng.randrange(100, 1000)}-{rng.randrange(10, 100)}-{rng.randrange(10, 100)}"
            )
        visit = f"{rng.randrange(1, 29):02d}.{rng.randrange(1, 13):02d}.2026"
        rows.append(
            f"P-{n:06d};{name};{', '.join(phones)};{rng.choice(_STATUSES)};{visit};{rng.choice(_CURATORS)};"
        )
    known = rng.sample(primary, min(len(primary), callers - callers // 10))
    unknown = [(_mobile(rng, taken), _person(rng)) for _ in range(callers - len(known))]
    return "\r\n".join(rows) + "\r\n", known + unknown
