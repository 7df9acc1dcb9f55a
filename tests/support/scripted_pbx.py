"""A tiny scripted Asterisk: builds AMI event dicts the way Asterisk sends them, for unit tests.

By default shaped like Asterisk 22 with `timestampevents=yes`; ``system`` (a ``systemname`` prefix on every
Uniqueid) and ``stamped=False`` (no Timestamp headers) give the shape of many Asterisk 13/16 installations.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Chan:
    name: str
    uniqueid: str
    linkedid: str
    num: str = ""
    cname: str = ""
    exten: str = ""
    state: str = "0"

    def snapshot(self, prefix: str = "") -> dict[str, str]:
        return {
            f"{prefix}Channel": self.name,
            f"{prefix}ChannelState": self.state,
            f"{prefix}CallerIDNum": self.num,
            f"{prefix}CallerIDName": self.cname,
            f"{prefix}Exten": self.exten,
            f"{prefix}Context": "from-trunk",
            f"{prefix}Uniqueid": self.uniqueid,
            f"{prefix}Linkedid": self.linkedid,
        }


@dataclass
class ScriptedPbx:
    now: float = 1_763_900_000.0
    seq: int = 0
    events: list[dict[str, str]] = field(default_factory=list)
    system: str = ""
    stamped: bool = True

    def wait(self, seconds: float) -> None:
        self.now += seconds

    def emit(self, name: str, *parts: dict[str, str], **fields: str) -> None:
        event = {"Event": name}
        if self.stamped:
            event["Timestamp"] = f"{self.now:.6f}"
        for part in parts:
            event.update(part)
        event.update(fields)
        self.events.append(event)

    def new(
        self,
        name: str,
        *,
        linked: Chan | None = None,
        num: str = "",
        cname: str = "",
        exten: str = "",
        state: str = "0",
    ) -> Chan:
        """A new channel: Down ("0") as Asterisk creates the legs it places; a call coming in to the PBX
        (from the trunk, or dialled on a phone) is created in Ring ("4")."""
        self.seq += 1
        uniqueid = f"{int(self.now)}.{self.seq}"
        if self.system:
            uniqueid = f"{self.system}-{uniqueid}"
        chan = Chan(
            f"{name}-{self.seq:08x}",
            uniqueid,
            linked.linkedid if linked else uniqueid,
            num,
            cname,
            exten,
            state,
        )
        self.emit("Newchannel", chan.snapshot())
        return chan

    def state(self, chan: Chan, state: str) -> None:
        chan.state = state
        self.emit("Newstate", chan.snapshot())

    def dial(self, caller: Chan, dest: Chan, dialstring: str = "") -> None:
        self.emit("DialBegin", caller.snapshot(), dest.snapshot("Dest"), DialString=dialstring or dest.name)

    def dial_end(self, caller: Chan, dest: Chan, status: str) -> None:
        self.emit("DialEnd", caller.snapshot(), dest.snapshot("Dest"), DialStatus=status)

    def bridge(self, chan: Chan, bridge_id: str, technology: str = "simple_bridge") -> None:
        self.emit("BridgeEnter", chan.snapshot(), BridgeUniqueid=bridge_id, BridgeTechnology=technology)

    def swap_into(self, chan: Chan, bridge_id: str, replaces: Chan) -> None:
        """`chan` takes `replaces`'s place in a bridge (Local channel optimisation, a transfer)."""
        self.emit(
            "BridgeEnter",
            chan.snapshot(),
            BridgeUniqueid=bridge_id,
            BridgeTechnology="simple_bridge",
            SwapUniqueid=replaces.uniqueid,
        )

    def local_pair(self, target: str, *, linked: Chan) -> tuple[Chan, Chan]:
        """Local/<target>-<seq>;1 and ;2: the two ends of one Local channel."""
        one = self.new("Local/" + target, linked=linked, exten=target.split("@")[0])
        two = self.new("Local/" + target, linked=linked, exten=target.split("@")[0])
        two.name = one.name + ";2"
        one.name = one.name + ";1"
        self.events[-2]["Channel"] = one.name
        self.events[-1]["Channel"] = two.name
        two.state = "4"
        return one, two

    def unbridge(self, chan: Chan, bridge_id: str) -> None:
        self.emit("BridgeLeave", chan.snapshot(), BridgeUniqueid=bridge_id)

    def hangup(self, chan: Chan, cause: str = "16") -> None:
        self.emit("Hangup", chan.snapshot(), Cause=cause)

    def relink(self, chan: Chan, linkedid: str) -> None:
        chan.linkedid = linkedid

    def inbound(
        self, caller: str = "89161234567", did: str = "74951110001", name: str = "Иван Петров"
    ) -> Chan:
        return self.new("PJSIP/trunk", num=caller, cname=name, exten=did, state="4")

    def ring(self, caller: Chan, ext: str) -> Chan:
        phone = self.new(f"PJSIP/{ext}", linked=caller, num=ext, exten=caller.exten)
        self.dial(caller, phone)
        self.state(phone, "5")
        return phone

    def answer(self, caller: Chan, phone: Chan, bridge_id: str = "b1") -> None:
        self.state(phone, "6")
        self.dial_end(caller, phone, "ANSWER")
        self.state(caller, "6")
        self.bridge(caller, bridge_id)
        self.bridge(phone, bridge_id)
