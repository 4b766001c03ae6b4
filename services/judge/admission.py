"""Admission control for outside callers: a per-caller rate limit and a
bounded queue.

Both answer at once instead of making callers wait: a caller over its rate, or
a request that would take the judge over its queue limit (items waiting or in
flight), gets RESOURCE_EXHAUSTED and can back off. Memory therefore stays
bounded whatever callers send.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from services.common.errors import ResourceExhausted


@dataclass
class TokenBucket:
    """`rate` items per second with bursts up to `burst`."""

    rate: float
    burst: int
    clock: Callable[[], float] = time.monotonic
    tokens: float = field(init=False)
    updated: float = field(init=False)

    def __post_init__(self) -> None:
        self.tokens = float(self.burst)
        self.updated = self.clock()

    def take(self, count: int) -> bool:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if count <= self.tokens:
            self.tokens -= count
            return True
        return False


class RateLimiter:
    """One token bucket per caller; rate 0 disables the limit."""

    def __init__(self, rate: float, burst: int, max_callers: int = 10_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_callers = max_callers
        self._buckets: dict[str, TokenBucket] = {}

    def admit(self, caller: str, count: int) -> None:
        if self.rate <= 0:
            return
        if count > self.burst:
            raise ResourceExhausted(f"rate limit: {count} items at once is over the burst of "
                                    f"{self.burst}; send smaller batches")
        bucket = self._buckets.get(caller)
        if bucket is None:
            if len(self._buckets) >= self.max_callers:
                # Forget the oldest caller rather than grow without bound.
                self._buckets.pop(next(iter(self._buckets)))
            bucket = self._buckets[caller] = TokenBucket(self.rate, self.burst)
        if not bucket.take(count):
            raise ResourceExhausted(f"rate limit: over {self.rate:g} items per second "
                                    f"(burst {self.burst}) for this caller; retry later")


class AdmissionQueue:
    """Counts items admitted and not yet answered; refuses beyond `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    def acquire(self, count: int) -> None:
        # Single-threaded asyncio: the check and the increment cannot interleave.
        if self.in_flight + count > self.limit:
            raise ResourceExhausted(f"judge queue full: {self.in_flight} items waiting or in "
                                    f"flight, limit {self.limit}; retry later")
        self.in_flight += count

    def release(self, count: int) -> None:
        self.in_flight = max(0, self.in_flight - count)
