"""Failed-login limits: at most N failures per key (a username, an address) in any 60-second window.

In memory and per process: a password guesser is slowed to N tries a minute per account and per
address, which is what matters against scrypt-hashed passwords. Memory is bounded twice: each key keeps
at most N timestamps, and only the `max_keys` most recently failing keys are kept (the oldest go first).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterable

WINDOW_SECONDS = 60.0
MAX_KEYS = 10_000


class LoginLimiter:
    def __init__(self, per_minute: int, *, max_keys: int = MAX_KEYS, window: float = WINDOW_SECONDS) -> None:
        if per_minute < 1 or max_keys < 1 or window <= 0:
            raise ValueError("limits must be positive")
        self._limit = per_minute
        self._max_keys = max_keys
        self._window = window
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def blocked(self, keys: Iterable[str], now: float) -> bool:
        """True when any of the keys already has N failures in the last minute."""
        for key in keys:
            times = self._recent(key, now)
            if times is not None and len(times) >= self._limit:
                return True
        return False

    def failed(self, keys: Iterable[str], now: float) -> None:
        for key in keys:
            times = self._recent(key, now)
            if times is None:
                times = self._failures[key] = deque(maxlen=self._limit)
            else:
                self._failures.move_to_end(key)
            times.append(now)
            while len(self._failures) > self._max_keys:
                self._failures.popitem(last=False)

    def succeeded(self, key: str) -> None:
        """Forget a key's failures (the account's owner got in); addresses are never forgiven this way."""
        self._failures.pop(key, None)

    def __len__(self) -> int:
        return len(self._failures)
