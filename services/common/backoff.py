"""The one bounded-backoff helper for model and storage calls.

Call sites say which errors are transient with a predicate; the attempt
counting, jittered exponential delays and the final error live here once.
A policy is bounded by attempts and, when it sets `max_elapsed_seconds`, by
time: no attempt starts once that much time has passed since the first, so
"retried for about a minute" is a bound the code keeps, not a sum of
per-layer delays. The bound is checked before each delay (a delay that would
end past it is not waited) and again after it, since a loaded machine wakes
a sleeper late: an attempt that would start past the bound is not made.
"""

from __future__ import annotations

import asyncio
import random
import time
from dataclasses import dataclass
from typing import Awaitable, Callable, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    max_attempts: int = 4
    initial_seconds: float = 0.5
    max_seconds: float = 8.0
    multiplier: float = 2.0
    jitter: float = 0.2
    # No attempt starts later than this after the first (None: attempts only).
    max_elapsed_seconds: float | None = None

    def delay(self, attempt: int, hint: float | None = None) -> float:
        """Delay before attempt `attempt + 1` (attempts count from 1)."""
        if hint is not None:
            return min(max(hint, 0.0), self.max_seconds)
        base = min(self.initial_seconds * self.multiplier ** (attempt - 1), self.max_seconds)
        return base * (1 + random.uniform(-self.jitter, self.jitter))

    def next_delay(self, attempt: int, started: float, hint: float | None = None,
                   now: float | None = None) -> float | None:
        """The delay before another attempt, or None when the policy is spent:
        `attempt` attempts made, or the next would start past the time bound."""
        if attempt >= self.max_attempts:
            return None
        delay = self.delay(attempt, hint)
        if self.past_bound(started, (time.monotonic() if now is None else now) + delay):
            return None
        return delay

    def past_bound(self, started: float, moment: float) -> bool:
        """Whether an attempt at `moment` would start past the time bound."""
        return self.max_elapsed_seconds is not None and moment - started > self.max_elapsed_seconds


class RetriesExhausted(Exception):
    """Every attempt failed with a transient error; `last` is the final one."""

    def __init__(self, attempts: int, last: BaseException, seconds: float = 0.0) -> None:
        super().__init__(f"gave up after {attempts} attempts in {seconds:.1f} s: {last}")
        self.attempts = attempts
        self.last = last
        self.seconds = seconds


async def retry(call: Callable[[], Awaitable[T]], *, policy: Backoff,
                transient: Callable[[BaseException], bool],
                retry_after: Callable[[BaseException], float | None] = lambda _e: None,
                on_retry: Callable[[int, BaseException], None] | None = None) -> tuple[T, int]:
    """Run `call` until it succeeds or a non-transient error or the attempt
    bound; return (result, attempts made)."""
    attempt, started = 0, time.monotonic()
    while True:
        attempt += 1
        try:
            return await call(), attempt
        except Exception as exc:
            if not transient(exc):
                raise
            delay = policy.next_delay(attempt, started, retry_after(exc))
            if delay is None:
                raise RetriesExhausted(attempt, exc, time.monotonic() - started) from exc
            if on_retry is not None:
                on_retry(attempt, exc)
            await asyncio.sleep(delay)
            if policy.past_bound(started, time.monotonic()):
                raise RetriesExhausted(attempt, exc, time.monotonic() - started) from exc


def retry_blocking(call: Callable[[], T], *, policy: Backoff,
                   transient: Callable[[BaseException], bool],
                   sleep: Callable[[float], None] = time.sleep,
                   clock: Callable[[], float] = time.monotonic) -> tuple[T, int]:
    """`retry` for blocking code (the store runs in worker threads): the same
    attempt bound, delays and final `RetriesExhausted`."""
    attempt, started = 0, clock()
    while True:
        attempt += 1
        try:
            return call(), attempt
        except Exception as exc:
            if not transient(exc):
                raise
            delay = policy.next_delay(attempt, started, now=clock())
            if delay is None:
                raise RetriesExhausted(attempt, exc, clock() - started) from exc
            sleep(delay)
            if policy.past_bound(started, clock()):
                raise RetriesExhausted(attempt, exc, clock() - started) from exc
