"""The walk a run starts with: over its seeds in order, restoring what the
store holds and starting the rest (a fresh run is a walk that finds
nothing). Resuming is therefore the same code path as starting.

What the walk knows of the stored run comes from, cheapest first:
- the checkpoint (checkpoint.py): seeds it covers are skipped without a
  read, its counts, done records and near-duplicate index are taken as they
  are;
- the manifest segments written after it (manifest.py): outcomes counted
  without reading their outputs;
- the outputs themselves, for what neither records (items in flight, the
  last seconds before a crash, failures): the groups of outputs that may
  hold them (outputs.py: those the checkpoint names and those written since,
  every group without a checkpoint) are read at once, and outputs stored one
  per key (runs from before groups) are read ahead a window of seeds at a
  time, concurrently.

Which outputs exist is known by listing the run's keys when there is no
checkpoint. With one it is known without a listing, whose cost grows with
the run: the feed record says below which seed index every started seed
lies (it is written before the first seed past it is started), so only the
few seeds below it that neither the checkpoint nor the segments record are
probed, by reading their outputs (absent is absent). Items that were in
flight are handed back to the stage queues once the walk is done, so the
walk's time does not include theirs.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from google.protobuf import json_format

from mis.v1 import coordinator_pb2
from services.common.store import ObjectNotFound
from services.coordinator import layout
from services.coordinator.checkpoint import (Checkpoint, checkpoint_from, count_entry, entry_usable,
                                             seed_covered)
from services.coordinator.finish import DoneRecord, recorded_fingerprint, thresholds_of
from services.coordinator.manifest import Restored, load_manifest, next_segment
from services.coordinator.outputs import group_keys
from services.coordinator.sample import DONE, FAILED, Sample, Seed
from services.coordinator.stages import BRANCHES, PIPELINE, PipelineStage, following

if TYPE_CHECKING:
    from services.coordinator.pipeline import PipelineRun

log = logging.getLogger("mis.coordinator.restore")

# Seeds whose stored outputs are read ahead together; also how far the feed
# record runs ahead of the seeds started.
RESTORE_WINDOW = 256


class RestoreWalk:
    def __init__(self, run: "PipelineRun") -> None:
        self.run = run
        self.run_id = run.run_id
        self.existing: set[str] = set()
        self.probing = False  # keys found by reading them, not by a listing
        self.restored = Restored()
        self.covered: set[int] = set()  # seed indices the checkpoint covers
        self.fed_below = 0
        self.stored_below = 0  # the feed record as the walk found it
        self.from_checkpoint = False
        self.next_segment = 0
        self.next_group = 0
        self.groups_read = 0
        self.pins: dict[int, set[int]] = {}  # seed index -> groups holding its outputs
        self.backlog: list[tuple[PipelineStage, Seed | Sample]] = []
        self.started = time.perf_counter()
        self.walking = True

    # -- what the store holds ----------------------------------------------------------------

    async def open(self) -> None:
        """Read the checkpoint, the feed record, the segments after the
        checkpoint (all of them without one) and, without a checkpoint, the
        run's key listing."""
        reader = self.run.reader
        checkpoint = await self._checkpoint()
        fed = await self._read_optional(layout.feed_record(self.run_id))
        self.fed_below = self.stored_below = int(fed["seeds_below"]) if fed else 0
        if checkpoint is not None and fed is not None:
            self.probing = True
            self.existing = await reader.list_recent(self.run_id, checkpoint.next_segment, checkpoint.groups_from)
            self._take(checkpoint)
        else:
            checkpoint = None
            self.existing = await reader.list_run(self.run_id)
        first = checkpoint.next_segment if checkpoint else 0
        later = await load_manifest(reader, self.run_id, self.existing, first)
        for seed_id, entry in later.seeds.items():
            self.restored.seeds.setdefault(seed_id, entry)
        for seed_id, samples in later.samples.items():
            for sample_id, entry in samples.items():
                self.restored.samples.setdefault(seed_id, {}).setdefault(sample_id, entry)
        self.restored.segments = later.segments
        self.next_segment = next_segment(self.run_id, self.existing, first)
        await self._load_groups(checkpoint, later)

    async def _load_groups(self, checkpoint: Checkpoint | None, later: Restored) -> None:
        """Read the groups of outputs a resume needs into the reader's cache,
        keeping only the outputs of seeds neither the checkpoint nor the
        manifest covers: what the last segment read in order (or else the
        checkpoint) names and every group from its `groups_from` on; every
        group when neither says. The next group is numbered after every one
        that may exist."""
        listed = group_keys(self.run_id, self.existing)
        said = later.groups or ((checkpoint.groups, checkpoint.groups_from) if checkpoint else None)
        pinned, listed_from = said if said else ([], 0)
        groups = {key: number for key, number in listed.items() if number >= listed_from}
        groups.update({layout.output_group(self.run_id, number): number for number in pinned})
        self.next_group = max(max(listed.values(), default=-1) + 1, listed_from,
                              checkpoint.groups_from if checkpoint else 0)
        seeds = self.run.inputs.seeds

        def wanted(index: int) -> bool:
            return (index < len(seeds) and index not in self.covered
                    and not self._covered(Seed(seeds[index], index)))
        self.pins = await self.run.reader.load_groups(groups, wanted)
        self.existing.update(self.run.reader.cache)
        self.groups_read = len(groups)

    async def _checkpoint(self) -> Checkpoint | None:
        data = await self._read_optional(layout.checkpoint_record(self.run_id))
        if data is None:
            return None
        try:
            return checkpoint_from(self.run_id, data, thresholds_of(self.run.config))
        except (ValueError, KeyError, TypeError, IndexError) as exc:
            log.warning("checkpoint not used: %s", exc, extra={"run_id": self.run_id})
            return None

    async def _read_optional(self, key: str):
        try:
            return await self.run.store.get_json(key)
        except ObjectNotFound:
            return None

    def _take(self, checkpoint: Checkpoint) -> None:
        """The checkpoint's counts, done records and index become the run's;
        its open entries are recorded as counted already."""
        run, counts = self.run, checkpoint.folded.counts
        for stage, mine in run.tracker.stages.items():
            mine.done, mine.rejected = counts.stages[stage].done, counts.stages[stage].rejected
        run.tracker.per_split.update(counts.per_split)
        for name in ("prompt_tokens", "completion_tokens", "gpu_seconds", "samples_total", "samples_finished"):
            setattr(run.tracker, name, getattr(counts, name))
        run.done = checkpoint.done
        run.near_duplicates = checkpoint.dedup
        run.folded = checkpoint.folded
        run.tracker.changed()
        self.from_checkpoint = True
        self.covered = set(checkpoint.folded.covered)
        for _, entry in checkpoint.open_entries():
            self.restored.add(entry, folded=True)

    # -- the walk --------------------------------------------------------------------------

    async def feed(self) -> None:
        """Walk the seeds in order: restore what the store holds, start the rest.

        Once the split targets are reached no new seed is started; seeds already
        started (they have a first-stage output or a failure) are always
        restored, so the seeds a run covers are a prefix of the seed list
        whatever the timing (see docs/coordinator.md)."""
        run, first = self.run, PIPELINE[0]
        seen: set[str] = set()
        read_ahead = 0
        run.tracker.seeds_total = len({seed.id for seed in run.inputs.seeds})
        for index, seed in enumerate(run.inputs.seeds):
            if seed.id in seen:
                log.warning("duplicate seed id skipped", extra={"seed_id": seed.id})
                continue
            seen.add(seed.id)
            if index in self.covered:
                continue
            if index >= read_ahead:
                read_ahead = index + RESTORE_WINDOW
                await self._read_ahead([Seed(s, i) for i, s in enumerate(
                    run.inputs.seeds[index:read_ahead], start=index) if i not in self.covered])
            item = Seed(seed, index)
            failure_key = layout.failure_record(self.run_id, item.id)
            if seed.id in self.restored.seeds:
                run.open_units += 1
                await self._restore_recorded(item)
            elif item.output_key(self.run_id, first.stored_as) in self.existing:
                run.open_units += 1
                await self._restore(item, first)
            elif failure_key in self.existing:
                await self._restore_failure(failure_key)
            elif run.targets_reached():
                log.info("split targets reached; no further seeds started",
                         extra={"run_id": self.run_id, "seed_index": index})
                break
            else:
                await self.walked()
                await self._start(item)
        await self.walked()
        self.existing.clear()
        self.run.reader.cache.clear()  # outputs the walk did not need (it read what it did)
        self.restored = Restored()

    async def _start(self, item: Seed) -> None:
        """Queue a seed at the first stage; the feed record first, when the
        seed is past it."""
        run = self.run
        if item.index >= self.fed_below:
            self.fed_below = item.index + RESTORE_WINDOW
            await run._write(layout.feed_record(self.run_id), {"seeds_below": self.fed_below})
        run.open_units += 1
        await run.queues[PIPELINE[0].key].put(item)

    async def walked(self) -> None:
        """Once: the stored part of the run is walked. Log how long it took,
        hand the items that were in flight back to their stages, and let
        checkpoints be made (what the walk restored is folded by now)."""
        if not self.walking:
            return
        self.walking = False
        log.info("run restored", extra={
            "run_id": self.run_id, "seconds": round(time.perf_counter() - self.started, 3),
            "keys": len(self.existing), "probed": self.probing, "checkpoint": self.from_checkpoint,
            "manifest_segments": self.restored.segments, "output_groups": self.groups_read,
            "in_flight": len(self.backlog),
            "samples_restored": self.run.tracker.samples_total})
        self.run.clock.allowed = True
        backlog, self.backlog = self.backlog, []
        for stage, item in backlog:
            await self.run.queues[stage.key].put(item)

    async def _read_ahead(self, window: list[Seed]) -> None:
        """Fetch concurrently the stored outputs that restoring `window` will
        read: first-stage outputs the manifest does not sum up, then, a
        stage at a time, the outputs of their samples (and forks) that it
        does not cover. Listed keys are read; without a listing, the keys
        below the feed record are probed, each stage's only for the samples
        whose output of the stage before exists."""
        run, first = self.run, PIPELINE[0]
        keys = {item.output_key(self.run_id, first.stored_as): item for item in window
                if not self._covered(item) and (item.index < self.stored_below if self.probing else True)}
        level = []
        for key in await self._fetch(keys):
            item = keys[key]
            recorded = self.restored.samples.get(item.seed.id, {})
            stored = run.reader.cache[key]
            level += [(sample.id, following(first), False) for sample in first.advance(
                item, first.result_of(stored), self.run_id)
                if not entry_usable(sample.id, recorded)]
        branches = [stage for stage in PIPELINE if stage.branches_from and stage.used(run.config)]
        while level:
            wanted = {layout.stage_output(self.run_id, sid, stage.stored_as): (sid, stage, fork)
                      for sid, stage, fork in level if stage is not None}
            level = []
            for key in await self._fetch(wanted):
                sid, stage, fork = wanted[key]
                level.append((sid, following(stage), fork))
                if not fork:
                    level += [(layout.fork_id(sid, branch.key), branch, True)
                              for branch in branches if branch.branches_from == stage.key]

    async def _fetch(self, keys) -> set[str]:
        """Read `keys` that exist into the reader's cache; the ones that do."""
        if self.probing:
            found = await self.run.reader.probe(keys)
            self.existing.update(found)
            return found
        found = {key for key in keys if key in self.existing}
        await self.run.reader.fetch(found)
        return {key for key in found if key in self.run.reader.cache}

    def _covered(self, item: Seed) -> bool:
        """Whether the manifest records the seed and every sample of it."""
        return seed_covered(self.run_id, item.seed.id, self.restored.seeds.get(item.seed.id),
                            self.restored.samples.get(item.seed.id, {}))

    async def _restore_recorded(self, item: Seed) -> None:
        """A seed the manifest records: count it and its recorded samples from
        the manifest; replay from the store only the samples it lacks."""
        run, first = self.run, PIPELINE[0]
        covered = self._covered(item)
        entry = self.restored.seeds.pop(item.seed.id)
        recorded = self.restored.samples.pop(item.seed.id, {})
        self._count(entry, item.index)
        fanned: list[Sample] = []
        if not covered:
            stored = await run._read(item.output_key(self.run_id, first.stored_as))
            fanned = first.apply(item, first.result_of(stored), self.run_id)
        for query_index in range(entry[2]):
            sample_id = layout.sample_id(self.run_id, item.seed.id, query_index)
            if entry_usable(sample_id, recorded):
                sample_entry = recorded.pop(sample_id)
                for branch in sample_entry[14]:
                    self._count(recorded.pop(layout.fork_id(sample_id, branch)), item.index)
                self._count(sample_entry, item.index)
            elif sample_id in self.restored.folded and sample_id in recorded:
                await self._restore_forks(fanned[query_index], recorded.pop(sample_id), recorded)
            else:
                run.open_units += 1
                await self._restore(fanned[query_index], following(first, fanned[query_index]),
                                    recorded)
        run._close_unit(item)

    def _count(self, entry: list, seed_index: int) -> None:
        """An entry restored from the manifest, as replaying its outputs would
        have counted it; one the checkpoint holds is counted there already."""
        if entry[1] in self.restored.folded:
            return
        run = self.run
        count_entry(run.tracker, entry)
        run.folded.fold(entry, seed_index)
        if entry[0] == "sample" and entry[4] == DONE:
            sample_id, seed_id, query_index, split, origin = entry[1], entry[2], entry[3], entry[6], entry[13]
            branch = sample_id[len(origin) + 1:] if origin else ""
            record = DoneRecord(sample_id, seed_id, seed_index, query_index, split, origin, branch)
            run._remember_done(record, recorded_fingerprint(sample_id, *entry[7:10], entry[15:]))

    async def _restore_forks(self, sample: Sample, entry: list, recorded: dict[str, list]) -> None:
        """A sample the checkpoint counted, whose forks it does not: rebuild
        the sample as each branch point left it (its outputs applied, nothing
        counted again) and restore the forks the manifest lacks."""
        run, stage = self.run, following(PIPELINE[0], sample)
        while stage is not None:
            result = stage.result_of(await run._read(sample.output_key(self.run_id, stage.stored_as)))
            moved = stage.apply(sample, result, self.run_id)
            for branch in BRANCHES[stage.key]:
                fork_id = layout.fork_id(sample.id, branch.key)
                if branch.key not in entry[14]:
                    continue
                if fork_id in recorded:
                    self._count(recorded.pop(fork_id), sample.seed_index)
                else:
                    run.open_units += 1
                    await self._restore(branch.fork(sample), branch, recorded)
            if not any(s is sample for s in moved):
                return
            stage = following(stage, sample)

    async def _restore(self, item: Seed | Sample, stage: PipelineStage | None,
                       recorded: dict[str, list] | None = None) -> None:
        """Replay an item's stored outputs from `stage` on; hand it to its
        first stage without one (once the walk is done, when it is still
        walking), or restore its failure there. `recorded`: the manifest's
        entries of its seed."""
        run = self.run
        if recorded is None:
            recorded = self.restored.samples.get(item.seed_id if isinstance(item, Sample) else item.seed.id, {})
        while stage is not None:
            key = item.output_key(self.run_id, stage.stored_as)
            if key not in self.existing:
                failure_key = layout.failure_record(self.run_id, item.id)
                if failure_key in self.existing:
                    await self._restore_failure(failure_key)
                    item.outcome = FAILED
                    run._close_unit(item)
                elif self.walking:
                    self.backlog.append((stage, item))
                else:
                    await run.queues[stage.key].put(item)
                return
            result = stage.result_of(await run._read(key))
            moved = run._apply(stage, item, result, restoring=True)
            for other in (s for s in moved if s is not item):
                if other.origin and other.id in recorded:
                    # A fork the manifest records while its origin is replayed.
                    self._count(recorded.pop(other.id), other.seed_index)
                    run.open_units -= 1
                    run.tracker.changed()
                else:
                    await self._restore(other, following(stage, other), recorded)
            if not any(s is item for s in moved):
                return
            stage = following(stage, item)
        raise AssertionError("unreachable: the last stage always ends a sample")

    async def _restore_failure(self, key: str) -> None:
        failure = json_format.ParseDict(await self.run._read(key), coordinator_pb2.SampleFailure())
        self.run.tracker.record_failure(failure)
