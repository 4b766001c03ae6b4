"""Stage outputs written a group at a time, and read back whichever shape
they were stored in.

One store write per item per stage was most of the coordinator's own CPU
(each PUT costs about a millisecond of client work: signing, HTTP, a thread
hop). So the outputs the pipeline stores within a short window, of any
stage and any item, go to the store as one object, a *group*:

    runs/<run>/outputs/<n>.json   {"outputs": [[key, seed_index, value], ...]}

`key` is the output's own key (layout.extract_output / stage_output), which
is what every reader looks up; `seed_index` is the seed the output belongs
to, so a checkpoint can say which groups a resume still needs (the groups
of the seeds it does not cover, `GroupedWriter.pins`). The exactly-once
invariant is unchanged: `put` returns only once the group holding the output
is durable, and the pipeline hands an item on only after `put` returned. A
group that was being written when the process died either landed whole or
not at all, and its items are called again in the second case, as before.

Runs stored before groups existed have one object per output under the same
keys; `StoredOutputs` (the export, the review) and the resume read both.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable, Iterable

from services.common.store import Store
from services.coordinator import layout

log = logging.getLogger("mis.coordinator.outputs")

# A group is written once its first output has waited LINGER_SECONDS or it
# holds GROUP_ITEMS outputs, whichever comes first; at most WRITES_IN_FLIGHT
# groups are being written at once, so a slow store holds the run back
# instead of piling groups up.
LINGER_SECONDS = 0.02
GROUP_ITEMS = 256
WRITES_IN_FLIGHT = 4


def group_number(run_id: str, key: str) -> int | None:
    """The number of a group's key; None for any other key."""
    prefix = layout.outputs_prefix(run_id)
    name = key[len(prefix):].removesuffix(".json") if key.startswith(prefix) and key.endswith(".json") else ""
    return int(name) if name.isdigit() else None


def group_keys(run_id: str, keys: Iterable[str]) -> dict[str, int]:
    """The groups among a run's keys, with their numbers."""
    return {key: number for key in keys if (number := group_number(run_id, key)) is not None}


class GroupedWriter:
    """Collects outputs and writes them as numbered groups; `put` returns once
    its output's group is stored. `pins`: for each seed index, the stored
    groups that hold an output of it (`needed` drops the seeds the manifest
    covers; a resume starts with the pins of what it read)."""

    def __init__(self, run_id: str, write: Callable[[str, Any], Awaitable[None]], first_group: int,
                 linger_seconds: float = LINGER_SECONDS, group_items: int = GROUP_ITEMS,
                 writes_in_flight: int = WRITES_IN_FLIGHT) -> None:
        self.run_id = run_id
        self.write = write
        self.next_group = first_group
        self.linger_seconds = linger_seconds
        self.group_items = group_items
        self.slots = asyncio.Semaphore(writes_in_flight)
        self.pending: list[tuple[str, int, Any, str, asyncio.Future]] = []
        self.arrived = asyncio.Event()
        self.full = asyncio.Event()
        self.writing: set[asyncio.Task] = set()
        self.being_written: set[int] = set()
        self.pins: dict[int, set[int]] = {}

    async def put(self, key: str, seed_index: int, value: Any, label: str) -> int:
        """Store one output (in the next group); the group's number once it is durable.
        `label`: how the output is named in the group's log line (item:stage)."""
        future = asyncio.get_running_loop().create_future()
        self.pending.append((key, seed_index, value, label, future))
        self.arrived.set()
        if len(self.pending) >= self.group_items:
            self.full.set()
        return await future

    def pin(self, seed_index: int, group: int) -> None:
        self.pins.setdefault(seed_index, set()).add(group)

    def listed_from(self) -> int:
        """The first group a resume lists: every group from it on may hold
        outputs no seed pins yet (being written, or not started)."""
        return min(self.being_written, default=self.next_group)

    def needed(self, uncovered: Callable[[int], bool]) -> list[int]:
        """The stored groups before `listed_from` holding outputs of seeds for
        which `uncovered` is true: with those listed from `listed_from` on,
        what a resume from a checkpoint made now has to read. The pins of
        the other seeds are dropped (a covered seed stays covered)."""
        first = self.listed_from()
        for index in [index for index in self.pins if not uncovered(index)]:
            del self.pins[index]
        return sorted({group for groups in self.pins.values() for group in groups if group < first})

    async def run(self) -> None:
        """Write a group whenever outputs have lingered long enough or one is
        full; until cancelled (the run ends only when no item waits on a put)."""
        try:
            while True:
                await self.arrived.wait()
                try:
                    async with asyncio.timeout(self.linger_seconds):
                        await self.full.wait()
                except TimeoutError:
                    pass
                await self.slots.acquire()
                self._start_group()
        finally:
            for task in self.writing:
                task.cancel()

    def _start_group(self) -> None:
        taken, self.pending = self.pending[:self.group_items], self.pending[self.group_items:]
        if not self.pending:
            self.arrived.clear()
        if len(self.pending) < self.group_items:
            self.full.clear()
        number = self.next_group
        self.next_group += 1
        self.being_written.add(number)
        task = asyncio.create_task(self._write_group(number, taken), name=f"outputs-{number}")
        self.writing.add(task)
        task.add_done_callback(self.writing.discard)

    async def _write_group(self, number: int, taken: list) -> None:
        started = time.perf_counter()
        try:
            await self.write(layout.output_group(self.run_id, number),
                             {"outputs": [[key, seed_index, value] for key, seed_index, value, _, _ in taken]})
        except BaseException as exc:
            for *_, future in taken:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            self.slots.release()
            self.being_written.discard(number)
        # One line per group, naming every output in it (what a test counts to
        # prove that no finished stage is repeated across restarts).
        log.info("stage outputs stored", extra={
            "run_id": self.run_id, "group": number, "outputs": [label for *_, label, _ in taken],
            "seconds": round(time.perf_counter() - started, 4)})
        for _, seed_index, _, _, future in taken:
            self.pin(seed_index, number)
            if not future.done():
                future.set_result(number)


class StoredOutputs:
    """A stored run's stage outputs as the export and the review read them:
    every group read once (concurrently), every other key from the store as
    before. Duck-compatible with the store's `get_json` and `exists`, so the
    replay code takes either."""

    def __init__(self, store: Store, run_id: str, threads: int = 16) -> None:
        self.store = store
        self.run_id = run_id
        self.grouped: dict[str, Any] = {}
        keys = sorted(group_keys(run_id, store.list_keys(layout.outputs_prefix(run_id))))
        with ThreadPoolExecutor(max_workers=threads) as pool:
            for group in pool.map(store.get_json, keys):
                for key, _, value in group["outputs"]:
                    self.grouped[key] = value

    def get_json(self, key: str) -> Any:
        if key in self.grouped:
            return self.grouped[key]
        return self.store.get_json(key)

    def exists(self, key: str) -> bool:
        return key in self.grouped or self.store.exists(key)

    def first_stage_outputs(self, first_key: str) -> list[Any]:
        """Every stored output of the first stage (one per seed), both shapes."""
        suffix = f"/{first_key}.json"
        seeds_prefix = layout.run_prefix(self.run_id) + "seeds/"
        found = {key: value for key, value in self.grouped.items()
                 if key.startswith(seeds_prefix) and key.endswith(suffix)}
        for key in self.store.list_keys(seeds_prefix):
            if key.endswith(suffix) and key not in found:
                found[key] = self.store.get_json(key)
        return list(found.values())
