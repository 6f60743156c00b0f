"""Rate limits per key: a token bucket of `amount` requests refilled at `amount` per `period`,
kept as one float per key (GCRA, the generic cell rate algorithm).

A client may burst up to `amount` requests, then one every `period / amount` seconds; a
refused request costs nothing. O(1) time and memory per key, no lists of hits, no threads.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*(?:/|per)\s*(\d+)?\s*(second|minute|hour|day)s?\s*$", re.I)
PRUNE_EVERY = 10_000  # hits between sweeps of keys whose bucket is full again


@dataclass(frozen=True)
class Rate:
    amount: int
    period: float  # seconds
    text: str  # as the error message shows it: "3 per 1 minute"

    def __str__(self) -> str:
        return self.text


def parse_rate(text: str) -> Rate:
    """'6000/minute', '100 per second', '10/5 minutes' -> Rate."""
    match = _RATE.match(text)
    if not match or int(match[1]) < 1 or (match[2] is not None and int(match[2]) < 1):
        raise ValueError(
            f"invalid rate {text!r}: expected '<count>/<unit>' or '<count>/<n> <unit>s', "
            "e.g. '6000/minute' (units: second, minute, hour, day)"
        )
    amount, multiple, unit = int(match[1]), int(match[2] or 1), match[3].lower()
    return Rate(amount, multiple * _UNITS[unit], f"{amount} per {multiple} {unit}")


class TokenBuckets:
    def __init__(self, rate: Rate, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self._clock = clock
        self._interval = rate.period / rate.amount  # one request's worth of refill
        self._burst = rate.period - self._interval  # how far ahead a full bucket may run
        self._due: dict[str, float] = {}  # key -> when its bucket is full again
        self._hits = 0

    def hit(self, key: str) -> float:
        """Takes one request from `key`'s bucket: 0.0 if allowed, otherwise the seconds until
        a request would be (nothing is taken then)."""
        now = self._clock()
        due = max(self._due.get(key, now), now)
        wait = due - self._burst - now
        if wait > 0:
            return wait
        self._due[key] = due + self._interval
        self._hits += 1
        if self._hits % PRUNE_EVERY == 0:
            self._prune(now)
        return 0.0

    def _prune(self, now: float) -> None:
        # A key whose bucket is full again holds nothing worth keeping.
        self._due = {key: due for key, due in self._due.items() if due > now}

    def __len__(self) -> int:
        return len(self._due)
