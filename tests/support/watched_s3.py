"""An S3 client wrapper that signals the first failed call, so a test knows a
write met a dead store instead of guessing when it did."""

from __future__ import annotations

import threading
import time


class WatchedClient:
    """The store's S3 client, passing every call through and setting
    `failed` when one raises; `started` holds when each call began
    (time.monotonic), so a test can see when each retry attempt started."""

    def __init__(self, client) -> None:
        self._client = client
        self.failed = threading.Event()
        self.started: list[float] = []

    def __getattr__(self, name: str):
        attribute = getattr(self._client, name)
        if not callable(attribute):
            return attribute

        def call(*args, **kwargs):
            self.started.append(time.monotonic())
            try:
                return attribute(*args, **kwargs)
            except Exception:
                self.failed.set()
                raise
        return call
