"""Waiting for the other side to reach a state, with a deadline and a message.

Tests never sleep to let something happen: they wait until a condition they
can observe holds (a key in the store, a line in a log, a call recorded), and
fail naming what they waited for when it does not come.
"""

from __future__ import annotations

import asyncio
import time
from typing import Callable

POLL_SECONDS = 0.02


async def until(condition: Callable[[], object], what: str, timeout: float = 60.0):
    """Return `condition()`'s first truthy value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(condition)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(POLL_SECONDS)


def until_sync(condition: Callable[[], object], what: str, timeout: float = 60.0):
    """`until` for code without an event loop."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(POLL_SECONDS)
