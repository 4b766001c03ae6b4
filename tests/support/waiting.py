"""Waiting for the other side to reach a state, with a deadline and a message.

Tests never sleep to let something happen: they wait until a condition they
can observe holds (a key in the store, a line in a log, a call recorded), and
fail naming what they waited for when it does not come.
"""

from __future__ import annotations

import asyncio
import threading
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


class OutputLines:
    """A child process's output, read line by line in a thread, so a test can
    wait for the line that says the child reached a point."""

    def __init__(self, stream) -> None:
        self.lines: list[str] = []
        self._grown = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for raw in iter(stream.readline, b""):
            with self._grown:
                self.lines.append(raw.decode(errors="replace").rstrip("\n"))
                self._grown.notify_all()

    def wait_for(self, text: str, timeout: float = 60.0) -> str:
        """The first line containing `text`; fails naming it after `timeout`."""
        def found() -> str | None:
            return next((line for line in self.lines if text in line), None)
        with self._grown:
            if not self._grown.wait_for(found, timeout):
                raise AssertionError(f"timed out after {timeout:.0f}s waiting for a line with "
                                     f"{text!r}; output so far:\n" + "\n".join(self.lines[-20:]))
            return found()

    def text(self) -> str:
        self._thread.join(timeout=10)
        with self._grown:
            return "\n".join(self.lines)
