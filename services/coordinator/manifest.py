"""A run's manifest: a compact, append-only record of the items that reached
an outcome, so a resumed run need not read every stored output again.

The per-stage outputs stay the source of truth; the manifest only says what
replaying them would find. Each line is written after the outputs it sums up
are durable, so an entry never claims more than the store holds; an outcome
not in the manifest yet (written since the last segment, or lost with the
process) is found by replaying its outputs, as without a manifest. Entries
are buffered and written as numbered segments, every `flush_items` entries
or `flush_seconds`, whichever comes first, so the writes grow with the run
and not with its square:

    runs/<run>/manifest/<n>.json   {"entries": [...], "groups": [...], "groups_from": n}

`groups` and `groups_from` are what a checkpoint made with the segment
would say about the groups of outputs a resume reads (checkpoint.py,
outputs.py), so a resume that has read every segment up to this one reads
only those groups, with or without a checkpoint.

    ["seed", seed_id, samples, prompt_tokens, completion_tokens, gpu_seconds]
        a seed the first stage fanned out into `samples` samples (0: rejected)
    ["sample", sample_id, seed_id, query_index, outcome, stage_keys, split,
     instruction_text, image1_phash, image2_phash, prompt_tokens, completion_tokens, gpu_seconds,
     origin, fork_branches, [image_embedder, image_embeddings_base64]]
        a sample that is done or rejected after the stages named (the last one
        rejected it, or finished it); a fork names its origin, and a sample
        the branch stages it was forked to (its entry stands for it only
        when theirs are there too); the last two only when the filter gave
        image embeddings (a run with semantic near-duplicates on)

What a resume still reads from the outputs, it reads concurrently
(`ConcurrentReader`): the keys are known before they are needed, so they are
fetched a window at a time by a pool of threads instead of one GET after
another. Listing the run's keys is split by key prefix and done in parallel.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Iterable

from services.common.store import AsyncStore, ObjectNotFound
from services.coordinator import layout

log = logging.getLogger("mis.coordinator.manifest")

SEED, SAMPLE = "seed", "sample"
FLUSH_ITEMS = 500
FLUSH_SECONDS = 2.0
READ_THREADS = 24
HEX = "0123456789abcdef"


@dataclass
class Restored:
    """The manifest of a run as read back: entries by seed, consumed by the
    walk; `folded`: the ids whose entries a checkpoint has counted already."""

    seeds: dict[str, list] = field(default_factory=dict)
    samples: dict[str, dict[str, list]] = field(default_factory=dict)  # seed id -> sample id -> entry
    segments: int = 0
    folded: set[str] = field(default_factory=set)
    # (groups, groups_from) of the last segment of an unbroken run of segments
    # read from the first one asked for; None when none said.
    groups: tuple[list[int], int] | None = None

    def add(self, entry: list, folded: bool = False) -> None:
        if entry[0] == SEED:
            self.seeds[entry[1]] = entry
        elif entry[0] == SAMPLE:
            self.samples.setdefault(entry[2], {})[entry[1]] = entry
        if folded:
            self.folded.add(entry[1])


class ConcurrentReader:
    """GETs on a pool of threads; `fetch` reads many keys at once into a
    cache that `take` empties, so the walk that follows finds them in memory."""

    def __init__(self, store: AsyncStore, threads: int = READ_THREADS) -> None:
        self.store = store
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="store-read")
        self.cache: dict[str, Any] = {}

    async def get(self, key: str) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.pool, self.store.sync.get_json, key)

    async def fetch(self, keys: Iterable[str]) -> None:
        wanted = [key for key in keys if key not in self.cache]
        values = await asyncio.gather(*(self.get(key) for key in wanted), return_exceptions=True)
        for key, value in zip(wanted, values):
            if not isinstance(value, BaseException):
                self.cache[key] = value  # a failed read is made again, with retries, when needed

    def take(self, key: str) -> Any:
        return self.cache.pop(key, None)

    async def probe(self, keys: Iterable[str]) -> set[str]:
        """Read each key that is not in the cache yet: the ones that exist
        (their values into the cache). Absent is absent; any other failure
        (after the store's retries) is raised, never taken for absent."""
        keys = list(dict.fromkeys(keys))
        wanted = [key for key in keys if key not in self.cache]
        values = await asyncio.gather(*(self.get(key) for key in wanted), return_exceptions=True)
        found = set()
        for key, value in zip(wanted, values):
            if isinstance(value, ObjectNotFound):
                continue
            if isinstance(value, BaseException):
                raise value
            self.cache[key] = value
            found.add(key)
        return found | {key for key in keys if key in self.cache}

    async def list_recent(self, run_id: str, first_segment: int, first_group: int = 0) -> set[str]:
        """What a resume from a checkpoint lists: the manifest segments from
        `first_segment` on, the groups of outputs from `first_group` on and
        the failure records, never the outputs stored one per key."""
        loop = asyncio.get_running_loop()
        after = layout.manifest_segment(run_id, first_segment - 1) if first_segment else None
        group_after = layout.output_group(run_id, first_group - 1) if first_group else None
        listed = await asyncio.gather(*(loop.run_in_executor(
            self.pool, lambda prefix=prefix, start=start: list(self.store.sync.list_keys(prefix, start_after=start)))
            for prefix, start in ((layout.manifest_prefix(run_id), after),
                                  (layout.outputs_prefix(run_id), group_after),
                                  (layout.failures_prefix(run_id), None))))
        return {key for part in listed for key in part}

    async def load_groups(self, groups: dict[str, int], wanted: Callable[[int], bool]) -> dict[int, set[int]]:
        """Read groups of outputs (outputs.py; key -> number) concurrently and
        put the outputs of the seeds `wanted` (by index) into the cache; the
        groups that held them, per seed index. A group that cannot be read
        fails the resume: its outputs are not known to be absent."""
        keys = sorted(groups)
        values = await asyncio.gather(*(self.get(key) for key in keys))
        held: dict[int, set[int]] = {}
        for key, group in zip(keys, values):
            for output_key, seed_index, value in group["outputs"]:
                if wanted(seed_index):
                    self.cache[output_key] = value
                    held.setdefault(seed_index, set()).add(groups[key])
        return held

    async def list_run(self, run_id: str) -> set[str]:
        """Every key of a run, listed by sub-prefix in parallel."""
        prefix = layout.run_prefix(run_id)
        parts = ([f"{prefix}samples/s{h}" for h in HEX] + [f"{prefix}seeds/{h}" for h in HEX]
                 + [f"{prefix}failures/", f"{prefix}manifest/", f"{prefix}outputs/"])
        loop = asyncio.get_running_loop()
        listed = await asyncio.gather(*(loop.run_in_executor(
            self.pool, lambda part=part: list(self.store.sync.list_keys(part))) for part in parts))
        keys = {key for part in listed for key in part}
        keys.update(await loop.run_in_executor(
            self.pool, lambda: list(self.store.sync.list_keys(prefix, recursive=False))))
        return keys

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


class ManifestWriter:
    """Buffers outcome entries and writes them as numbered segments; with a
    segment, the checkpoint when `checkpoint` makes one (it is made at the
    moment the segment's entries are taken, so it holds exactly the entries
    of this segment and those before it, and written after the segment)."""

    def __init__(self, run_id: str, write: Callable[[str, Any], Awaitable[None]], first_segment: int,
                 flush_items: int | None = None, flush_seconds: float | None = None,
                 checkpoint: Callable[[int], Callable[[], Awaitable[None]] | None] | None = None,
                 groups: Callable[[], dict] | None = None) -> None:
        self.run_id = run_id
        self.write = write
        self.checkpoint = checkpoint
        self.groups = groups
        self.next_segment = first_segment
        self.flush_items = flush_items or FLUSH_ITEMS
        self.flush_seconds = flush_seconds or FLUSH_SECONDS
        self.pending: list[list] = []
        self.full = asyncio.Event()
        self.lock = asyncio.Lock()
        self.written = 0
        self.stopping = False

    def note(self, entry: list) -> None:
        self.pending.append(entry)
        if len(self.pending) >= self.flush_items:
            self.full.set()

    async def flush(self) -> None:
        async with self.lock:  # segments are written in order, one at a time
            if not self.pending:
                return
            entries, self.pending = self.pending, []
            self.full.clear()
            key = layout.manifest_segment(self.run_id, self.next_segment)
            self.next_segment += 1
            store_checkpoint = self.checkpoint(self.next_segment) if self.checkpoint else None
            await self.write(key, {"entries": entries, **(self.groups() if self.groups else {})})
            self.written += len(entries)
            if store_checkpoint is not None:
                await store_checkpoint()

    async def run(self) -> None:
        """Flush whenever the buffer fills or `flush_seconds` pass, until
        `stop` (then once more, so nothing noted is left behind)."""
        while not self.stopping:
            try:
                async with asyncio.timeout(self.flush_seconds):
                    await self.full.wait()
            except TimeoutError:
                pass
            await self.flush()
        await self.flush()

    def stop(self) -> None:
        self.stopping = True
        self.full.set()


async def load_manifest(reader: ConcurrentReader, run_id: str, existing: set[str],
                        first: int = 0) -> Restored:
    """Every segment the listing found from number `first` on, read
    concurrently; a segment that cannot be read is skipped (its outcomes are
    replayed from the outputs)."""
    numbers = segment_keys(run_id, existing)
    keys = sorted(key for key, number in numbers.items() if number >= first)
    restored = Restored(segments=len(keys))
    values = await asyncio.gather(*(reader.get(key) for key in keys), return_exceptions=True)
    unbroken = first
    for key, value in zip(keys, values):
        if isinstance(value, BaseException):
            level = logging.INFO if isinstance(value, ObjectNotFound) else logging.WARNING
            log.log(level, "manifest segment skipped: %s", value, extra={"run_id": run_id, "key": key})
            continue
        for entry in value.get("entries", []):
            restored.add(entry)
        if numbers[key] == unbroken:
            unbroken += 1
            if "groups_from" in value:
                restored.groups = ([int(g) for g in value.get("groups", [])], int(value["groups_from"]))
    return restored


def segment_keys(run_id: str, existing: set[str]) -> dict[str, int]:
    """The manifest segments among a run's keys, with their numbers."""
    prefix = layout.manifest_prefix(run_id)
    found = {}
    for key in existing:
        name = key[len(prefix):].removesuffix(".json") if key.startswith(prefix) else ""
        if name.isdigit() and key.endswith(".json"):
            found[key] = int(name)
    return found


def next_segment(run_id: str, existing: set[str], first: int = 0) -> int:
    return max(max(segment_keys(run_id, existing).values(), default=-1) + 1, first)
