"""The sans-I/O call assembler: Asterisk AMI events in, finished call records out.

AMI reports channels, not calls. One call is every channel sharing a Linkedid; channels that Asterisk
later moves to an older Linkedid (pickups, attended transfers) bring their call along and are merged.
The assembler keeps only live calls: a call is emitted once its last channel has hung up and a short
settle time has passed (late queue events), or when its events stopped for too long.

With ``live=True`` it also reports, after every event, how each call now looks to the operators'
screens (``take_live``; the snapshot itself is ``pbx.live_view``); a call's facts and their reading as a
call record live in ``pbx.assembled_call``.

No asyncio, no SQL: times come from the events' ``Timestamp`` header or from the caller.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from pbx.assembled_call import AssembledCall, Interpretation, NumberNormalizer, PendingTarget
from pbx.bridges import Bridges
from pbx.call_record import PbxCallRecord, Transfer
from pbx.channels import UNKNOWN_NAMES, Channel, ChannelClassifier
from pbx.live import LiveCall, LiveChange, change_kind
from pbx.live_view import DIAL_PROGRESS, live_view

log = logging.getLogger("kolokol.assembler")

AmiEvent = Mapping[str, str]

_QUEUE_LET_GO = frozenset({"TIMEOUT", "FULL", "JOINEMPTY", "LEAVEEMPTY", "JOINUNAVAIL", "LEAVEUNAVAIL"})
_DOWN = "0"
_RING = "4"  # ChannelState of a call coming in to the PBX (from the trunk, or dialled on a phone)
_RINGING = "5"  # ChannelState: the far end alerts (SIP 180); "4" (Ring) is a caller's own channel
_UP = "6"
# Event times outside these bounds are not believed (the arrival time is used instead).
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST_AHEAD = timedelta(days=1)
# Channels of finished calls remembered so that a straggler event cannot start a phantom call.
_FINISHED_MEMORY = 50_000


class CallAssembler:
    """Feed events in arrival order; collect the records each call returns."""

    def __init__(
        self,
        normalize: NumberNormalizer,
        *,
        classifier: ChannelClassifier | None = None,
        settle_seconds: float = 2.0,
        stale_after_seconds: float = 4 * 3600,
        live: bool = False,
    ) -> None:
        # Numbers repeat on every event of a call, and live snapshots read them on each one: parsing is
        # by far the dearest step, and the normaliser is a pure function of the text.
        self._normalize: NumberNormalizer = lru_cache(maxsize=4096)(normalize)
        # Live tracking costs a snapshot per event; replays and benchmarks of storage leave it off.
        self._live = live
        self._touched: dict[str, None] = {}
        self._live_changes: list[LiveChange] = []
        self._classifier = classifier or ChannelClassifier()
        self._order = 0
        # Events fed so far: the order of things within one timestamp (or with none at all).
        self._seq = 0
        self._settle = timedelta(seconds=settle_seconds)
        self._stale = timedelta(seconds=stale_after_seconds)
        self._channels: dict[str, Channel] = {}
        self._calls: dict[str, AssembledCall] = {}
        self._bridges = Bridges(self._channels)
        self._finished: OrderedDict[str, None] = OrderedDict()
        # The PBX's clock (event Timestamps) minus ours: settle and stale times are measured on the PBX's
        # clock, so a PBX whose clock is off does not close calls early or keep them open.
        self._skew = timedelta(0)
        # The whole event surface in one place: kolokol registers for exactly these events (and the AMI
        # user's eventfilter in asterisk_conf/manager.conf lets exactly these through, a test checks).
        # Snapshots after a reconnect (CoreShowChannel) are action replies and come through `resync`.
        self._handlers: dict[str, Callable[[AmiEvent, datetime], None]] = {
            "Newchannel": self._on_channel_snapshot,
            "Newstate": self._on_channel_snapshot,
            "NewCallerid": self._on_channel_snapshot,
            "NewConnectedLine": self._on_channel_snapshot,
            "DialBegin": self._on_dial_begin,
            "DialState": self._on_dial_state,
            "DialEnd": self._on_dial_end,
            "BridgeEnter": self._on_bridge_enter,
            "BridgeLeave": self._on_bridge_leave,
            "Hangup": self._on_hangup,
            "QueueCallerJoin": self._on_queue_join,
            "QueueCallerAbandon": self._on_queue_abandon,
            "BlindTransfer": self._on_blind_transfer,
            "AttendedTransfer": self._on_attended_transfer,
            "UserEvent": self._on_user_event,
        }

    # -- public surface ---------------------------------------------------------------------------

    @property
    def open_calls(self) -> int:
        return len(self._calls)

    def tracks(self, uniqueid: str) -> bool:
        """Whether this channel belongs to a call in progress (its events still count)."""
        return uniqueid in self._channels

    @property
    def handled_events(self) -> frozenset[str]:
        """The event names this assembler uses: the AMI event filter should let these through."""
        return frozenset(self._handlers)

    def feed(self, event: AmiEvent, received_at: datetime) -> list[PbxCallRecord]:
        """Apply one event; return the calls that are now finished."""
        self._seq += 1
        stamped = _event_time(event, received_at)
        if stamped is not None:
            self._skew = stamped - received_at
        at = stamped or received_at + self._skew
        handler = self._handlers.get(event.get("Event", ""))
        if event.get("Uniqueid", "") in self._finished:
            handler = None
        if handler is not None:
            try:
                handler(event, at)
            except (KeyError, ValueError, TypeError) as exc:
                # A malformed event must not take the calls around it down.
                log.warning("ami event skipped", extra={"event": event.get("Event"), "error": str(exc)})
        self._show_touched(at)
        return self._finish_due(at)

    def take_live(self) -> list[LiveChange]:
        """What changed on the live calls since the last call, oldest first (with ``live=True``)."""
        changes, self._live_changes = self._live_changes, []
        return changes

    def tick(self, now: datetime) -> list[PbxCallRecord]:
        """Finish calls whose settle time has passed or whose events stopped."""
        return self._finish_due(now + self._skew)

    def resync(self, live_channels: Iterable[AmiEvent], now: datetime) -> list[PbxCallRecord]:
        """After a reconnect: channels we track that Asterisk no longer has hung up while we were away."""
        now = now + self._skew
        live: set[str] = set()
        for snapshot in live_channels:
            uniqueid = snapshot.get("Uniqueid", "")
            if uniqueid:
                live.add(uniqueid)
                self._resynced_channel(snapshot, now)
        for channel in list(self._channels.values()):
            if channel.alive and channel.uniqueid not in live:
                self._hang_up(channel, now, cause="")
        self._show_touched(now)
        return self._finish_due(now)

    def flush(self, now: datetime | None = None) -> list[PbxCallRecord]:
        """Finish every call (end of a replay, or shutdown)."""
        done = []
        for call in list(self._calls.values()):
            ended = call.ended_at or (now + self._skew if now is not None else call.last_event_at)
            done.extend(self._finish(call, ended, timed_out=call.ended_at is None))
        return sorted(done, key=lambda r: r.started_at)

    # -- channel bookkeeping ----------------------------------------------------------------------

    def _channel(self, event: AmiEvent, at: datetime, prefix: str = "") -> Channel | None:
        uniqueid = event.get(f"{prefix}Uniqueid", "")
        if not uniqueid:
            return None
        linkedid = event.get(f"{prefix}Linkedid", "") or uniqueid
        channel = self._channels.get(uniqueid)
        if channel is None:
            name = event.get(f"{prefix}Channel", "")
            kind, extension = self._classifier.classify(name)
            self._order += 1
            channel = Channel(uniqueid, linkedid, name, kind, extension, at, self._order)
            channel.first_linkedid = linkedid
            self._channels[uniqueid] = channel
            call = self._calls.get(linkedid)
            if call is None:
                call = AssembledCall(call_id=linkedid, started_at=at, last_event_at=at)
                self._calls[linkedid] = call
            call.channels[uniqueid] = channel
            if uniqueid == linkedid:
                call.headed = True
            if uniqueid == linkedid or call.originator is None:
                call.originator = uniqueid
        elif linkedid != channel.linkedid and linkedid in self._calls:
            self._merge(self._calls_of(channel), self._calls[linkedid])
        self._update_snapshot(channel, event, prefix, at)
        call = self._calls_of(channel)
        call.last_event_at = max(call.last_event_at, at)
        if self._live:
            self._touched[call.call_id] = None
        return channel

    def _update_snapshot(self, channel: Channel, event: AmiEvent, prefix: str, at: datetime) -> None:
        num = event.get(f"{prefix}CallerIDNum")
        if num is not None:
            channel.caller_num = num
        name = event.get(f"{prefix}CallerIDName")
        if name is not None:
            channel.caller_name = name
        connected = event.get(f"{prefix}ConnectedLineNum")
        if connected is not None and channel.connected_num.lower() in UNKNOWN_NAMES:
            # The first one shown: on an outgoing leg, the line the PBX sent with the call; a transfer
            # later shows the leg the phone it was put through to.
            channel.connected_num = connected
        exten = event.get(f"{prefix}Exten")
        if exten:
            channel.exten = exten
            if not channel.first_exten:
                channel.first_exten = exten
        var_prefix = f"{prefix}ChanVariable(" if prefix else "ChanVariable("
        for key, value in event.items():
            if key.startswith(var_prefix) and key.endswith(")"):
                channel.variables[key[len(var_prefix) : -1]] = value
        recording = channel.variables.get("MIXMONITOR_FILENAME")
        if recording:
            self._calls_of(channel).recording_file = recording
        state = event.get(f"{prefix}ChannelState")
        if state and (not channel.first_state or (channel.first_state == _DOWN and state == _RING)):
            # chan_sip (Asterisk 13/16) creates a call coming in Down and rings it at once; PJSIP
            # creates it in Ring. Down, then Ring, is a call that came in, not a leg the PBX placed.
            channel.first_state = state
        if state in (_RINGING, _UP) and channel.kind == "phone":
            # Evidence that the phone rang: its leg alerted, or it picked up. Counted only for dialled
            # legs (see AssembledCall.rang): a caller's own phone does not ring. Ringing may be reported
            # before the DialBegin that names the leg.
            self._rang(channel, at)

    def _rang(self, channel: Channel, at: datetime) -> None:
        if channel.rang_at is None:
            channel.rang_at = at
            channel.rang_seq = self._seq

    def _calls_of(self, channel: Channel) -> AssembledCall:
        call = self._calls.get(channel.linkedid)
        if call is None:
            # The call was finished already and a straggler event arrived: give it a fresh home.
            call = AssembledCall(
                call_id=channel.linkedid, started_at=channel.created_at, last_event_at=channel.created_at
            )
            call.channels[channel.uniqueid] = channel
            call.originator = channel.uniqueid
            self._calls[channel.linkedid] = call
        return call

    def _merge(self, source: AssembledCall, target: AssembledCall) -> None:
        """Asterisk moved channels of ``source`` into ``target``'s Linkedid: one call from now on."""
        if source is target:
            return
        for channel in source.channels.values():
            channel.linkedid = target.call_id
            target.channels[channel.uniqueid] = channel
        target.dial_results.update(source.dial_results)
        offset = len(target.transfers)
        target.transfers.extend(source.transfers)
        target.pending_blind.extend(replace(p, index=offset + p.index) for p in source.pending_blind)
        target.recording_file = target.recording_file or source.recording_file
        target.last_event_at = max(target.last_event_at, source.last_event_at)
        target.queue_name = target.queue_name or source.queue_name
        target.answers = sorted([*target.answers, *source.answers], key=lambda answer: answer[0])
        target.ended_at = None
        target.headed = target.headed or source.headed
        self._calls.pop(source.call_id, None)
        if self._live:
            self._touched[target.call_id] = None
            if source.live is not None and source.live.state != "ended":
                # The screens close this call's card; the call it joined carries on under its own id.
                gone = replace(source.live, state="ended", ringing=(), talking=(), merged_into=target.call_id)
                self._tell(gone, target.last_event_at)

    def _hang_up(self, channel: Channel, at: datetime, cause: str) -> None:
        if not channel.alive:
            return
        channel.hung_up_at = at
        channel.cause = cause
        self._bridges.leave(channel)
        call = self._calls_of(channel)
        if all(not c.alive for c in call.channels.values()):
            call.ended_at = at
        if self._live:
            self._touched[call.call_id] = None

    # -- event handlers -----------------------------------------------------------------------------

    def _on_channel_snapshot(self, event: AmiEvent, at: datetime) -> None:
        self._channel(event, at)

    def _resynced_channel(self, snapshot: AmiEvent, at: datetime) -> None:
        known = snapshot.get("Uniqueid", "") in self._channels
        channel = self._channel(snapshot, at)
        if channel is not None:
            # The snapshot lists every live channel of the call: the call as it stands, not a fragment,
            # even when its first channel (a Local channel optimised away) is gone.
            self._calls_of(channel).headed = True
        if (
            channel is not None
            and not known
            and channel.kind == "phone"
            and channel.uniqueid != channel.linkedid
        ):
            # First seen in a snapshot (kolokol attached mid-call): a phone in somebody else's call was
            # dialled into it, though the DialBegin went by before we listened.
            channel.dialed = True

    def _on_dial_begin(self, event: AmiEvent, at: datetime) -> None:
        caller = self._channel(event, at)
        dest = self._channel(event, at, "Dest")
        if dest is None:
            return
        call = self._calls_of(dest)
        if not _came_in(dest):
            # A channel that came in to the PBX was not dialled, though Asterisk 13/16 name a phone that
            # picked the call up (SIP Replaces) as the destination of a DialBegin too.
            dest.dialed = True
        dest.dial_string = dest.dial_string or event.get("DialString", "")
        if caller is None and call.originator == dest.uniqueid:
            call.originated = True

    def _on_dial_state(self, event: AmiEvent, at: datetime) -> None:
        # Progress of a dialled leg. RINGING is the phone alerting; PROGRESS (early media) alone is not
        # a ring: gateways and phones also use it for announcements ("do not disturb", "unavailable").
        self._channel(event, at)
        dest = self._channel(event, at, "Dest")
        if dest is None:
            return
        dest.dialed = True
        if event.get("DialStatus") == "RINGING":
            self._rang(dest, at)

    def _on_dial_end(self, event: AmiEvent, at: datetime) -> None:
        self._channel(event, at)
        dest = self._channel(event, at, "Dest")
        status = event.get("DialStatus", "")
        if dest is None or not status:
            return
        if not _came_in(dest):
            # The DialBegin may have gone by before kolokol listened. (Not a channel that came in to the
            # PBX: a pickup's DialEnd names the picker, who dialled *8 itself.)
            dest.dialed = True
        call = self._calls_of(dest)
        # A duplicate CANCEL must not overwrite the real outcome of that leg.
        if call.dial_results.get(dest.uniqueid) in (None, *DIAL_PROGRESS):
            call.dial_results[dest.uniqueid] = status
        if status == "ANSWER" and all(leg is not dest for _, leg in call.answers):
            call.answers.append((at, dest))
            self._rang(dest, at)

    def _on_bridge_enter(self, event: AmiEvent, at: datetime) -> None:
        channel = self._channel(event, at)
        bridge = event.get("BridgeUniqueid", "")
        if channel is None or not bridge or event.get("BridgeTechnology") == "holding_bridge":
            return
        self._bridges.enter(channel, bridge)
        self._connected(channel, at)

    def _on_bridge_leave(self, event: AmiEvent, at: datetime) -> None:
        channel = self._channel(event, at)
        if channel is not None and channel.bridge == event.get("BridgeUniqueid"):
            self._bridges.leave(channel)

    def _on_hangup(self, event: AmiEvent, at: datetime) -> None:
        channel = self._channel(event, at)
        if channel is not None:
            self._hang_up(channel, at, event.get("Cause", ""))

    def _on_queue_join(self, event: AmiEvent, at: datetime) -> None:
        channel = self._channel(event, at)
        if channel is not None:
            call = self._calls_of(channel)
            call.queue_joined = True
            call.queue_name = event.get("Queue") or call.queue_name

    def _on_queue_abandon(self, event: AmiEvent, at: datetime) -> None:
        channel = self._channel(event, at)
        if channel is not None:
            call = self._calls_of(channel)
            call.queue_joined = True
            call.queue_abandoned = True

    def _on_user_event(self, event: AmiEvent, at: datetime) -> None:
        # Asterisk 22 reports a queue timeout as QueueCallerAbandon too; the dialplan's QUEUESTATUS,
        # sent as a UserEvent after Queue() (asterisk_conf/extensions.conf), tells the two apart.
        if event.get("UserEvent") != "KolokolQueueResult":
            return
        channel = self._channel(event, at)
        if channel is not None and event.get("Status", "").upper() in _QUEUE_LET_GO:
            self._calls_of(channel).queue_let_go = True

    def _on_blind_transfer(self, event: AmiEvent, at: datetime) -> None:
        transferer = self._channel(event, at, "Transferer")
        transferee = self._channel(event, at, "Transferee")
        anchor = transferee or transferer
        if anchor is None or event.get("Result", "Success") != "Success":
            return
        dialled = event.get("Extension", "") or None
        call = self._calls_of(anchor)
        call.transfers.append(Transfer(transferer.extension if transferer else None, dialled, "blind", at))
        # The number dialled may be a ring group or a queue: the phone that takes the call is the target.
        moved = frozenset(c.uniqueid for c in (transferer, transferee) if c is not None)
        call.pending_blind.append(PendingTarget(len(call.transfers) - 1, dialled, self._seq, moved))

    def _on_attended_transfer(self, event: AmiEvent, at: datetime) -> None:
        if event.get("Result", "Success") != "Success":
            return
        first = self._channel(event, at, "OrigTransferer")
        second = self._channel(event, at, "SecondTransferer")
        target = self._channel(event, at, "TransferTarget")
        transferee = self._channel(event, at, "Transferee")
        anchor = transferee or first
        if anchor is None:
            return
        call = self._calls_of(anchor)
        if second is not None:
            self._merge(self._calls_of(second), call)
        if target is not None:
            self._merge(self._calls_of(target), call)
        to_ext = target.extension if target is not None and target.kind == "phone" else None
        if (
            target is not None
            and transferee is not None
            and transferee.kind == "phone"
            and target.first_linkedid == call.call_id != transferee.first_linkedid
        ):
            # The phone joined two calls that had both come to it, and Asterisk names this call's own
            # party as the target: to this call, the phone of the other call is the one handed over.
            to_ext = transferee.extension
        unsettled = False
        if to_ext is None:
            to_ext, unsettled = self._attended_target(call, event, first, second, transferee)
        from_ext = first.extension if first is not None else (second.extension if second else None)
        if unsettled:
            # A "blonde" transfer into a ring group: several phones still ring and any may take the
            # caller. Until one does, the transfer is to the number the transferer dialled.
            dialled = (second.first_exten if second is not None else "") or None
            call.transfers.append(Transfer(from_ext, dialled or to_ext, "attended", at))
            moved = frozenset(c.uniqueid for c in (first, second, transferee) if c is not None)
            call.pending_blind.append(PendingTarget(len(call.transfers) - 1, dialled, self._seq, moved))
            return
        call.transfers.append(Transfer(from_ext, to_ext, "attended", at))

    def _attended_target(
        self,
        call: AssembledCall,
        event: AmiEvent,
        first: Channel | None,
        second: Channel | None,
        transferee: Channel | None,
    ) -> tuple[str | None, bool]:
        """The phone an attended transfer handed the caller to, when the event does not name it (Asterisk
        13/16 have no TransferTarget fields; newer ones may name a Local channel), and whether that is
        still open: several phones ring for it and the one that answers will be the target.

        The target is the transferer's party in the second call: a phone of the call the second
        transferer was born in, best one sitting in the bridge the caller moves to, else one still
        ringing (a "blonde" transfer: the transferer hung up while the target rang).
        """
        excluded = {c.uniqueid for c in (first, second, transferee) if c is not None}
        # The caller's side: where the first transferer came from, when the two calls were apart.
        caller_side = (
            first.first_linkedid
            if first is not None and second is not None and first.first_linkedid != second.first_linkedid
            else None
        )
        bridged: set[str] = set()
        for bridge in (event.get("DestBridgeUniqueid", ""), event.get("SecondBridgeUniqueid", "")):
            if bridge:
                bridged |= self._bridges.parties(bridge)
        candidates = [
            c
            for c in call.channels.values()
            if c.kind == "phone"
            and c.extension
            and c.uniqueid not in excluded
            and (caller_side is None or c.first_linkedid != caller_side)
        ]
        if second is not None and caller_side is not None:
            # Prefer the second call's own phones; a phone that joined it otherwise (a pickup) next.
            born_there = [c for c in candidates if c.first_linkedid == second.first_linkedid]
            candidates = born_there or candidates
        if not candidates:
            return None, False
        best = max(
            candidates,
            key=lambda c: (
                c.uniqueid in bridged,
                c.alive,
                c.bridge is not None,
                c.rang_at is not None,
                c.order,
            ),
        )
        ringing = [c for c in candidates if c.alive and c.bridge is None and c.rang_at is not None]
        unsettled = best.uniqueid not in bridged and best.bridge is None and len(ringing) > 1
        return best.extension, unsettled

    # -- who talks to whom --------------------------------------------------------------------------

    def _connected(self, channel: Channel, at: datetime) -> None:
        assert channel.bridge is not None
        parties = [self._channels[u] for u in self._bridges.parties(channel.bridge)]
        if len(parties) < 2:
            return
        # Channels of different calls now share a bridge (a pickup, a transfer): one call from now on.
        calls = {id(self._calls_of(c)): self._calls_of(c) for c in parties}
        if len(calls) > 1:
            # Asterisk keeps the oldest Linkedid (it names the channel created first); what kolokol
            # happened to see first may be younger when it started listening mid-call.
            target = min(calls.values(), key=lambda c: (_linkedid_age(c.call_id), c.started_at))
            for other in list(calls.values()):
                self._merge(other, target)
        call = self._calls_of(channel)
        for party in parties:
            party.connected = True
        phones = [c for c in parties if c.kind == "phone"]
        trunks = [c for c in parties if c.kind == "trunk"]
        if call.connected_at is None:
            call.connected_at = at
        if trunks and phones:
            ext = phones[0].extension
            if call.answered_at is None:
                call.answered_at = at
                call.answered_by = ext
            call.operator = ext
        if call.pending_blind:
            self._resolve_blind(call, phones)

    def _resolve_blind(self, call: AssembledCall, phones: list[Channel]) -> None:
        """A blindly transferred caller is connected: the phone that took the call is the target."""
        still = []
        for pending in call.pending_blind:
            transfer = call.transfers[pending.index]
            taker = next(
                (
                    p.extension
                    for p in phones
                    if p.extension and p.extension != transfer.from_ext and p.uniqueid not in pending.moved
                ),
                None,
            )
            if taker is None:
                still.append(pending)
            else:
                call.transfers[pending.index] = replace(transfer, to_ext=taker)
        call.pending_blind = still

    # -- live view --------------------------------------------------------------------------------------

    def _show_touched(self, at: datetime) -> None:
        if not self._touched:
            return
        touched, self._touched = self._touched, {}
        for call_id in touched:
            call = self._calls.get(call_id)
            if call is None:
                continue
            view = self._live_view(call)
            if view is None:
                continue
            kind = change_kind(call.live, view)
            call.live = view
            if kind is not None:
                self._live_changes.append(LiveChange(kind, view, at))

    def _tell(self, view: LiveCall, at: datetime) -> None:
        self._live_changes.append(LiveChange("call.ended", view, at))

    def _live_view(self, call: AssembledCall) -> LiveCall | None:
        return live_view(call, self._normalize, lambda bridge: len(self._bridges.parties(bridge)) >= 2)

    # -- finishing ------------------------------------------------------------------------------------

    def _finish_due(self, now: datetime) -> list[PbxCallRecord]:
        done = []
        for call in list(self._calls.values()):
            # A call whose first channel was never seen (kolokol started listening mid-call) is only a
            # part of a call that may go on: it waits for that channel's events or goes stale.
            if call.ended_at is not None and call.headed and now - call.ended_at >= self._settle:
                done.extend(self._finish(call, call.ended_at, timed_out=False))
            elif now - call.last_event_at >= self._stale:
                done.extend(self._finish(call, call.last_event_at, timed_out=True))
        return done

    def _finish(self, call: AssembledCall, ended_at: datetime, *, timed_out: bool) -> list[PbxCallRecord]:
        self._calls.pop(call.call_id, None)
        self._touched.pop(call.call_id, None)
        if call.live is not None and call.live.state != "ended":
            # Closed without a last hang-up (lost events, shutdown): the screens must still let go of it.
            self._tell(replace(call.live, state="ended", ringing=(), talking=(), ended_at=ended_at), ended_at)
        for uniqueid in call.channels:
            channel = self._channels.pop(uniqueid, None)
            if channel is not None:
                self._bridges.leave(channel)
            self._finished[uniqueid] = None
        while len(self._finished) > _FINISHED_MEMORY:
            self._finished.popitem(last=False)
        if all(c.kind == "local" for c in call.channels.values()):
            # Plumbing without a phone or a line (an originate that never got anywhere): no call.
            return []
        if not call.headed:
            # Only a fragment was seen (its first channel had gone before kolokol listened): who called
            # whom, and how it went, cannot be told from it.
            log.info(
                "partial call not recorded", extra={"linkedid": call.call_id, "channels": len(call.channels)}
            )
            return []
        return [Interpretation(call, self._normalize, ended_at, timed_out).record()]


def _came_in(channel: Channel) -> bool:
    """The channel is a call that came in to the PBX (from the trunk, or a phone dialling): created ringing
    at the PBX, as the first channel of its own call."""
    return channel.first_state == _RING and channel.uniqueid == channel.first_linkedid


def _linkedid_age(linkedid: str) -> tuple[float, int]:
    """Uniqueids are "[systemname-]<epoch>.<sequence>": older ones sort first."""
    epoch, _, sequence = linkedid.rpartition("-")[2].partition(".")
    try:
        return float(epoch), int(sequence)
    except ValueError:
        return float("inf"), 0


def _event_time(event: AmiEvent, received_at: datetime) -> datetime | None:
    """The event's own time, unless it cannot be true: before 2000 or a day ahead of its arrival is a PBX
    clock gone wrong (or garbage), and would put the call at the top of the call log for centuries."""
    stamp = event.get("Timestamp")
    if stamp:
        try:
            moment = datetime.fromtimestamp(float(stamp), tz=UTC)
        except (ValueError, OverflowError, OSError):
            return None
        if _EARLIEST <= moment <= received_at + _LATEST_AHEAD:
            return moment
    return None
