"""Admission control for outside callers: a per-caller rate limit and a
bounded queue.

Both answer at once instead of making callers wait: a caller over its rate, or
a request that would take the judge over its queue limit (items waiting or in
flight), gets RESOURCE_EXHAUSTED and can back off. `AdmissionGate` answers the
cases it can tell from the metadata alone (a full queue, a caller with no token
left) before the request body is read, so refused bodies cost no memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

import grpc

from services.common.errors import ResourceExhausted
from services.common.interceptors import bearer_token, call_metadata, refusal


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

    def refill(self) -> None:
        now = self.clock()
        self.tokens = min(float(self.burst), self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def take(self, count: int) -> bool:
        self.refill()
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
            raise self.over_rate()

    def over_rate(self) -> ResourceExhausted:
        return ResourceExhausted(f"rate limit: over {self.rate:g} items per second "
                                 f"(burst {self.burst}) for this caller; retry later")

    def check_room(self, caller: str) -> None:
        """Refuse a caller with no token left, before its request is read."""
        bucket = self._buckets.get(caller)
        if self.rate <= 0 or bucket is None:
            return
        bucket.refill()
        if bucket.tokens < 1:
            raise self.over_rate()


class AdmissionQueue:
    """Counts items admitted and not yet answered; refuses beyond `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_flight = 0

    def acquire(self, count: int) -> None:
        # Single-threaded asyncio: the check and the increment cannot interleave.
        if self.in_flight + count > self.limit:
            raise self.full()
        self.in_flight += count

    def full(self) -> ResourceExhausted:
        return ResourceExhausted(f"judge queue full: {self.in_flight} items waiting or in "
                                 f"flight, limit {self.limit}; retry later")

    def check_room(self) -> None:
        """Refuse while not even one more item fits, before the request is read."""
        if self.in_flight >= self.limit:
            raise self.full()

    def release(self, count: int) -> None:
        self.in_flight = max(0, self.in_flight - count)


class AdmissionGate(grpc.aio.ServerInterceptor):
    """Refuses Judge and JudgeBatch calls from the metadata when they cannot be
    admitted, before grpc reads (up to the message limit) of body. JudgeStream
    is not gated here: it reads one item at a time and answers each."""

    GATED = ("/mis.v1.JudgeService/Judge", "/mis.v1.JudgeService/JudgeBatch")

    def __init__(self, limiter: RateLimiter, queue: AdmissionQueue,
                 caller_name: Callable[[str], str], on_refused: Callable[[str], None]) -> None:
        self.limiter = limiter
        self.queue = queue
        self.caller_name = caller_name
        self.on_refused = on_refused

    async def intercept_service(self, continuation, handler_call_details):
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method not in self.GATED:
            return handler
        token = bearer_token(call_metadata(handler_call_details, "authorization"))
        for reason, check in (("rate_limit", lambda: self.limiter.check_room(self.caller_name(token))),
                              ("queue_full", self.queue.check_room)):
            try:
                check()
            except ResourceExhausted as exc:
                self.on_refused(reason)
                return refusal(handler, grpc.StatusCode.RESOURCE_EXHAUSTED, str(exc))
        return handler
