"""Who sits in which Asterisk bridge, and who is really connected through one.

A call through a Local channel is two bridges joined by the Local pair (``;1`` in one, ``;2`` in the
other): the people talking are the real channels on both sides. Pure: no asyncio, no SQL.
"""

from __future__ import annotations

from collections.abc import Mapping

from pbx.channels import Channel, local_pair_key


class Bridges:
    def __init__(self, channels: Mapping[str, Channel]) -> None:
        self._channels = channels
        self._members: dict[str, set[str]] = {}
        # Local pair -> the ends of it that sit in a bridge now (so a party search never scans every
        # channel of every open call).
        self._local_ends: dict[str, set[str]] = {}

    def enter(self, channel: Channel, bridge: str) -> None:
        self.leave(channel)
        channel.bridge = bridge
        self._members.setdefault(bridge, set()).add(channel.uniqueid)
        key = local_pair_key(channel.name)
        if key is not None:
            self._local_ends.setdefault(key, set()).add(channel.uniqueid)

    def leave(self, channel: Channel) -> None:
        if channel.bridge is None:
            return
        _discard(self._members, channel.bridge, channel.uniqueid)
        key = local_pair_key(channel.name)
        if key is not None:
            _discard(self._local_ends, key, channel.uniqueid)
        channel.bridge = None

    def parties(self, bridge: str) -> set[str]:
        """Real channels connected through this bridge, following Local ;1/;2 pairs to their far side."""
        seen: set[str] = set()
        parties: set[str] = set()
        pending = [bridge]
        while pending:
            current = pending.pop()
            if current in seen:
                continue
            seen.add(current)
            for uniqueid in self._members.get(current, ()):
                channel = self._channels[uniqueid]
                if channel.kind != "local":
                    parties.add(uniqueid)
                    continue
                for other_id in self._local_ends.get(local_pair_key(channel.name) or "", ()):
                    other = self._channels[other_id]
                    if other is not channel and other.bridge is not None:
                        pending.append(other.bridge)
        return parties


def _discard(index: dict[str, set[str]], key: str, member: str) -> None:
    members = index.get(key)
    if members is not None:
        members.discard(member)
        if not members:
            del index[key]
