"""The one bounded-backoff helper for model and storage calls.

Call sites say which errors are transient with a predicate; the attempt
counting, jittered exponential delays and the final error live here once.
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

    def delay(self, attempt: int, hint: float | None = None) -> float:
        """Delay before attempt `attempt + 1` (attempts count from 1)."""
        if hint is not None:
            return min(max(hint, 0.0), self.max_seconds)
        base = min(self.initial_seconds * self.multiplier ** (attempt - 1), self.max_seconds)
        return base * (1 + random.uniform(-self.jitter, self.jitter))


class RetriesExhausted(Exception):
    """Every attempt failed with a transient error; `last` is the final one."""

    def __init__(self, attempts: int, last: BaseException) -> None:
        super().__init__(f"gave up after {attempts} attempts: {last}")
        self.attempts = attempts
        self.last = last


async def retry(call: Callable[[], Awaitable[T]], *, policy: Backoff,
                transient: Callable[[BaseException], bool],
                retry_after: Callable[[BaseException], float | None] = lambda _e: None,
                on_retry: Callable[[int, BaseException], None] | None = None) -> tuple[T, int]:
    """Run `call` until it succeeds or a non-transient error or the attempt
    bound; return (result, attempts made)."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return await call(), attempt
        except Exception as exc:
            if not transient(exc):
                raise
            if attempt >= policy.max_attempts:
                raise RetriesExhausted(attempt, exc) from exc
            if on_retry is not None:
                on_retry(attempt, exc)
            await asyncio.sleep(policy.delay(attempt, retry_after(exc)))


def retry_blocking(call: Callable[[], T], *, policy: Backoff,
                   transient: Callable[[BaseException], bool],
                   sleep: Callable[[float], None] = time.sleep) -> tuple[T, int]:
    """`retry` for blocking code (the store runs in worker threads): the same
    attempt bound, delays and final `RetriesExhausted`."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return call(), attempt
        except Exception as exc:
            if not transient(exc):
                raise
            if attempt >= policy.max_attempts:
                raise RetriesExhausted(attempt, exc) from exc
            sleep(policy.delay(attempt))
