"""Requests per client address on the public endpoints, and which address a request came from.

A token bucket per address: ``per_minute`` tokens a minute, up to a quarter of a minute's worth saved
up (a visitor opening a few pages at once is fine; a flood is not). In memory and per process, like
the login limits: it slows one address; what keeps a pool from being drained across processes is
counted in the database (lease_engine: unconfirmed sessions per address). Memory is bounded: only the
``max_keys`` most recently seen addresses are kept.

Behind a reverse proxy every request comes from the proxy: ``X-Forwarded-For`` then names the visitor,
but only a trusted proxy's word is taken (anyone can send the header). The visitor is the address the
last trusted hop forwarded for: the rightmost address in the header that is not itself a trusted proxy.
"""

from __future__ import annotations

import ipaddress
import math
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

MAX_KEYS = 100_000
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    def __init__(self, per_minute: int, *, max_keys: int = MAX_KEYS) -> None:
        if per_minute < 1 or max_keys < 1:
            raise ValueError("limits must be positive")
        self._rate = per_minute / 60.0
        self._capacity = max(5.0, per_minute / 4)
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, key: str, now: float) -> float:
        """Take one request's token: 0.0 when allowed, else the seconds until one is due (Retry-After)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self._capacity, now)
            while len(self._buckets) > self._max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
            elapsed = max(0.0, now - bucket.at)
            bucket.tokens = min(self._capacity, bucket.tokens + elapsed * self._rate)
            bucket.at = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / self._rate

    def __len__(self) -> int:
        return len(self._buckets)


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))


class ClientAddress:
    """The visitor's address from the peer's and, from trusted proxies only, ``X-Forwarded-For``."""

    def __init__(self, trusted_proxies: Iterable[str]) -> None:
        self._trusted: tuple[_Network, ...] = tuple(
            ipaddress.ip_network(entry.strip(), strict=False) for entry in trusted_proxies if entry.strip()
        )

    def of(self, peer: str | None, forwarded_for: str | None) -> str:
        if not peer:
            return "unknown"
        if not self._trusted or not forwarded_for or not self._is_trusted(peer):
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",")[-32:]]
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:
                # A proxy passed on something that is no address: the last trusted hop is the best known.
                return peer
            if not self._is_trusted(address):
                return address
            peer = address
        return peer

    def _is_trusted(self, text: str) -> bool:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            return False
        return any(address in network for network in self._trusted)


def _address(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
