"""Fair sharing of a stage among the runs that use it at once.

Each run has its own workers, up to its `concurrency` per stage; without a
shared limit, the calls in flight to a stage are the sum over the runs, and
a run configured with many workers (or simply started first) takes the
service's capacity in proportion, queued ahead of a small run's few calls.
A `FairShare` per stage bounds the calls in flight to it across every run of
the coordinator and, when more want to go than it admits, hands the slots
out round robin: the runs take turns in a fixed rotation, and each free slot
goes to the next run in it that has a call waiting. A run with a call
waiting gets a slot after at most one call of each other run, however many
those have queued. So one big run cannot starve a small one, and a run
alone still gets the whole stage.

The bound is `MIS_STAGE_CALLS_IN_FLIGHT`, or, when that is 0, the largest
`concurrency` any of the runs using the stage gives it.
"""

from __future__ import annotations

import asyncio
from collections import deque
from contextlib import asynccontextmanager
from typing import AsyncIterator


class FairShare:
    def __init__(self, capacity: int = 0) -> None:
        self.capacity = capacity
        self.in_flight = 0
        self.joined: dict[str, int] = {}  # run id -> its concurrency
        self.waiting: dict[str, deque[asyncio.Future]] = {}  # run id -> its calls waiting, in order
        # The turn order, and where the next turn starts.
        self.rotation: list[str] = []
        self.cursor = 0

    @property
    def limit(self) -> int:
        return self.capacity or max(self.joined.values(), default=1)

    def join(self, run_id: str, concurrency: int) -> None:
        self.joined[run_id] = concurrency
        if run_id not in self.rotation:
            self.rotation.append(run_id)
        self._grant()

    def leave(self, run_id: str) -> None:
        self.joined.pop(run_id, None)
        if run_id in self.rotation and not self.waiting.get(run_id):
            place = self.rotation.index(run_id)
            self.rotation.pop(place)
            self.cursor -= place < self.cursor
        self._grant()

    @asynccontextmanager
    async def slot(self, run_id: str) -> AsyncIterator[None]:
        """Hold one of the stage's slots for a call of `run_id`."""
        await self._acquire(run_id)
        try:
            yield
        finally:
            self.in_flight -= 1
            self._grant()

    async def _acquire(self, run_id: str) -> None:
        if self.in_flight < self.limit and not self.waiting:
            self.in_flight += 1
            return
        turn = asyncio.get_running_loop().create_future()
        self.waiting.setdefault(run_id, deque()).append(turn)
        if run_id not in self.rotation:
            self.rotation.append(run_id)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():  # granted as it was cancelled: give it back
                self.in_flight -= 1
                self._grant()
            raise

    def _grant(self) -> None:
        while self.in_flight < self.limit and self.waiting:
            run_id = self._next_turn()
            turns = self.waiting[run_id]
            turn = turns.popleft()
            if not turns:
                del self.waiting[run_id]
            if turn.done():  # its caller was cancelled meanwhile
                continue
            self.in_flight += 1
            turn.set_result(None)

    def _next_turn(self) -> str:
        """The next run in the rotation with a call waiting; the turn after it
        starts behind it."""
        for step in range(len(self.rotation)):
            place = (self.cursor + step) % len(self.rotation)
            if self.rotation[place] in self.waiting:
                self.cursor = place + 1
                return self.rotation[place]
        raise AssertionError("a waiting run is always in the rotation")


def shares_for(keys, capacity: int = 0) -> dict[str, FairShare]:
    """One share per stage key."""
    return {key: FairShare(capacity) for key in keys}
