"""The pipelined executor of one run.

Each stage has a bounded queue and `concurrency` workers; a worker takes up to
`batch_size` waiting items, makes one batch call, writes each item's output to
the store under its deterministic key, and only then hands the item to the
next stage's queue. So a sample moves on as soon as its stage is done (no
barrier between stages), a full queue blocks the stage before it
(backpressure: the slowest stage sets the pace and nothing piles up), and
every hand-off is durable before it happens.

The executor holds no per-stage code: what a stage sends and what its result
does to a sample are the stage's declaration (services/coordinator/stages/).

Resume is the same code path as a fresh start: the run walks its seeds in
order and, for each, reads whatever outputs the store already holds; a sample
re-enters the pipeline at the first stage without an output. A stage whose
output was written is never called again; a call that was in flight when the
coordinator died is made again, and writing its output a second time lands on
the same key. Outcomes already in the run's manifest (manifest.py) are
taken from it without reading their outputs; the outputs still to replay are
read ahead a window of seeds at a time, concurrently. See docs/coordinator.md.

A sample that reaches its outcome leaves memory: a done sample leaves a
`DoneRecord` and its fingerprint in the run's near-duplicate index, which is
asked at the end (no end-of-run barrier over every sample).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Sequence

from google.protobuf import json_format

from mis.v1 import common_pb2, coordinator_pb2, filter_pb2
from services.common.backoff import Backoff, retry
from services.common.store import AsyncStore, ObjectNotFound, StoreError
from services.coordinator import layout
from services.coordinator.callers import RETRYABLE_ITEM_CODES, BatchCaller
from services.coordinator.finish import (DoneRecord, done_record, embedding_fields, fingerprint_of,
                                         recorded_fingerprint, select_samples, split_limits, thresholds_of)
from services.coordinator.manifest import (SAMPLE, SEED, ConcurrentReader, ManifestWriter, Restored,
                                           load_manifest, next_segment)
from services.coordinator.metrics import CoordinatorMetrics
from services.coordinator.progress import ProgressTracker
from services.coordinator.runconfig import stage_config
from services.coordinator.sample import DONE, FAILED, REJECTED, SPLIT_NAMES, Sample, Seed
from services.coordinator.stages import (BRANCH_SPLITS, BY_KEY, PIPELINE, PipelineStage, RunContext,
                                         StageCallError, TransientStageError, following, forks)
from services.filter.deduplication import RunDeduplication

log = logging.getLogger("mis.coordinator.pipeline")

# Durable writes outlast a restarting store: about a minute of retries.
STORE_RETRY = Backoff(max_attempts=10, initial_seconds=0.5, max_seconds=8.0)
# Seeds whose stored outputs are read ahead together on resume.
RESTORE_WINDOW = 256


@dataclass
class RunInputs:
    """What the engine needs besides the config: the seeds and the taxonomy."""

    seeds: Sequence[common_pb2.Seed]
    taxonomy: common_pb2.Taxonomy


class PipelineRun:
    def __init__(self, run_id: str, config: coordinator_pb2.RunConfig, inputs: RunInputs,
                 callers: dict[str, BatchCaller], store: AsyncStore, tracker: ProgressTracker,
                 retry_policy: Callable[[int], Backoff] | None = None,
                 metrics: CoordinatorMetrics | None = None) -> None:
        self.run_id = run_id
        self.config = config
        self.inputs = inputs
        self.context = RunContext(config, inputs.taxonomy)
        self.callers = callers
        self.store = store
        self.tracker = tracker
        self.stage_configs = {stage.key: stage_config(config, stage) for stage in PIPELINE}
        self.retry_policy = retry_policy or (lambda attempts: Backoff(
            max_attempts=attempts, initial_seconds=0.25, max_seconds=5.0))
        self.metrics = metrics or CoordinatorMetrics()
        self.done: list[DoneRecord] = []
        self.near_duplicates = RunDeduplication(thresholds_of(config))
        self.dedup_seconds = 0.0
        # Of each item in flight, for its manifest entry: tokens and GPU-seconds
        # so far, and the stages that gave it a result.
        self.costs: dict[str, list] = {}
        self.restored = Restored()
        self.reader: ConcurrentReader | None = None
        self.manifest: ManifestWriter | None = None
        self.started: float | None = None  # when execute began, until the restore is logged
        self.queues: dict[str, asyncio.Queue] = {}
        self.open_units = 0
        self.feeding_done = False
        self.idle = asyncio.Event()
        self.group: asyncio.TaskGroup | None = None
        self.settling: dict[str, asyncio.Semaphore] = {}

    # -- the run ---------------------------------------------------------------------------

    async def execute(self) -> dict:
        """Run every seed to a terminal outcome, deduplicate, write result.json; return it."""
        self.reader = ConcurrentReader(self.store)
        try:
            started = time.perf_counter()
            existing = await self.reader.list_run(self.run_id)
            self.restored = await load_manifest(self.reader, self.run_id, existing)
            self.manifest = ManifestWriter(self.run_id, self._write, next_segment(self.run_id, existing))
            for key, cfg in self.stage_configs.items():
                self.queues[key] = asyncio.Queue(maxsize=max(2, cfg.concurrency * cfg.batch_size * 2))
                self.settling[key] = asyncio.Semaphore(cfg.concurrency)
            async with asyncio.TaskGroup() as group:
                self.group = group
                workers = [group.create_task(self._worker(stage), name=f"{stage.key}-{n}")
                           for stage in PIPELINE
                           for n in range(self.stage_configs[stage.key].concurrency)]
                group.create_task(self.manifest.run(), name="manifest")
                self.started = started
                await self._feed(existing)
                self._log_restored(existing)
                existing.clear()
                self.restored = Restored()
                self.feeding_done = True
                self._check_idle()
                await self.idle.wait()
                for worker in workers:
                    worker.cancel()
                self.manifest.stop()  # its last segment is written before the group ends
            return await self._finish()
        finally:
            self.reader.close()

    def _check_idle(self) -> None:
        if self.feeding_done and self.open_units == 0:
            self.idle.set()

    def _close_unit(self, item: Any) -> None:
        """One seed (the first stage rejected it or fanned it out) or sample reached its end."""
        self.open_units -= 1
        if isinstance(item, Sample):
            self.tracker.samples_finished += 1
        self.tracker.changed()
        self._check_idle()

    def targets_reached(self) -> bool:
        wanted = {SPLIT_NAMES[split]: count for split, count in split_limits(self.config.targets).items()
                  if SPLIT_NAMES[split] not in BRANCH_SPLITS}
        if not any(wanted.values()):
            return False
        return all(self.tracker.per_split.get(name, 0) >= count
                   for name, count in wanted.items() if count)

    async def _feed(self, existing: set[str]) -> None:
        """Walk the seeds in order: restore what the store holds, queue the rest.

        Once the split targets are reached no new seed is started; seeds already
        started (they have a first-stage output or a failure) are always
        restored, so the seeds a run covers are a prefix of the seed list
        whatever the timing (see docs/coordinator.md)."""
        first = PIPELINE[0]
        seen: set[str] = set()
        read_ahead = 0
        self.tracker.seeds_total = len({seed.id for seed in self.inputs.seeds})
        for index, seed in enumerate(self.inputs.seeds):
            if seed.id in seen:
                log.warning("duplicate seed id skipped", extra={"seed_id": seed.id})
                continue
            seen.add(seed.id)
            item = Seed(seed, index)
            if index >= read_ahead:
                # Read what the next seeds will replay, all at once.
                read_ahead = index + RESTORE_WINDOW
                await self._read_ahead([Seed(s, i) for i, s in enumerate(
                    self.inputs.seeds[index:read_ahead], start=index)], existing)
            failure_key = layout.failure_record(self.run_id, item.id)
            if seed.id in self.restored.seeds:
                self.open_units += 1
                await self._restore_recorded(item, existing)
            elif item.output_key(self.run_id, first.key) in existing:
                self.open_units += 1
                await self._restore(item, first, existing)
            elif failure_key in existing:
                await self._restore_failure(failure_key)
            elif self.targets_reached():
                log.info("split targets reached; no further seeds started",
                         extra={"run_id": self.run_id, "seed_index": index})
                break
            else:
                self._log_restored(existing)  # the stored part of the run is walked
                self.open_units += 1
                await self.queues[first.key].put(item)

    def _log_restored(self, existing: set[str]) -> None:
        """Once: how long listing, the manifest and replaying the stored outputs took."""
        if self.started is None:
            return
        log.info("run restored", extra={
            "run_id": self.run_id, "seconds": round(time.perf_counter() - self.started, 3),
            "keys": len(existing), "manifest_segments": self.restored.segments,
            "samples_restored": self.tracker.samples_total})
        self.started = None

    async def _read_ahead(self, window: list[Seed], existing: set[str]) -> None:
        """Fetch concurrently the stored outputs that restoring `window` will
        read: first-stage outputs the manifest does not sum up, then the
        outputs of their samples (and forks) that it does not cover."""
        first = PIPELINE[0]
        keys = []
        for item in window:
            key = item.output_key(self.run_id, first.key)
            if key in existing and not self._covered(item):
                keys.append((item, key))
        await self.reader.fetch(key for _, key in keys)
        later = []
        for item, key in keys:
            stored = self.reader.cache.get(key)
            if stored is None:
                continue
            recorded = self.restored.samples.get(item.seed.id, {})
            for sample in first.advance(item, first.result_from_json(stored["result"]), self.run_id):
                if not self._entry_usable(sample.id, recorded):
                    ids = [sample.id] + [layout.fork_id(sample.id, b.key) for b in PIPELINE if b.branches_from]
                    later += [k for sid in ids for stage in PIPELINE[1:]
                              if (k := layout.stage_output(self.run_id, sid, stage.key)) in existing]
        await self.reader.fetch(later)

    def _covered(self, item: Seed) -> bool:
        """Whether the manifest records the seed and every sample of it."""
        entry = self.restored.seeds.get(item.seed.id)
        if entry is None:
            return False
        recorded = self.restored.samples.get(item.seed.id, {})
        return all(self._entry_usable(layout.sample_id(self.run_id, item.seed.id, q), recorded)
                   for q in range(entry[2]))

    @staticmethod
    def _entry_usable(sample_id: str, recorded: dict[str, list]) -> bool:
        """A sample's entry stands for it when its forks have entries too."""
        entry = recorded.get(sample_id)
        return entry is not None and all(layout.fork_id(sample_id, branch) in recorded
                                         for branch in entry[14])

    async def _restore_recorded(self, item: Seed, existing: set[str]) -> None:
        """A seed the manifest records: count it and its recorded samples from
        the manifest; replay from the store only the samples it lacks."""
        first = PIPELINE[0]
        covered = self._covered(item)
        entry = self.restored.seeds.pop(item.seed.id)
        recorded = self.restored.samples.get(item.seed.id, {})
        count = entry[2]
        counts = self.tracker.stages[first.stage]
        if count:
            counts.done += 1
        else:
            counts.rejected += 1
        self.tracker.samples_total += count
        self._add_recorded_cost(entry[3:6])
        fanned: list[Sample] = []
        if not covered:
            stored = await self._read(item.output_key(self.run_id, first.key))
            fanned = first.apply(item, first.result_from_json(stored["result"]), self.run_id)
        for query_index in range(count):
            sample_id = layout.sample_id(self.run_id, item.seed.id, query_index)
            if self._entry_usable(sample_id, recorded):
                sample_entry = recorded.pop(sample_id)
                for branch in sample_entry[14]:
                    self.tracker.samples_total += 1
                    self._restore_sample_entry(recorded.pop(layout.fork_id(sample_id, branch)), item.index)
                self._restore_sample_entry(sample_entry, item.index)
            else:
                self.open_units += 1
                await self._restore(fanned[query_index], following(first, fanned[query_index]), existing)
        self.restored.samples.pop(item.seed.id, None)
        self._close_unit(item)

    def _restore_sample_entry(self, entry: list, seed_index: int) -> None:
        """Count a sample the manifest records as done or rejected, as replaying
        its outputs would have."""
        (_, sample_id, seed_id, query_index, outcome, passed, split, text, phash1, phash2,
         *cost, origin, _forks) = entry[:15]
        for number, key in enumerate(passed):
            counts = self.tracker.stages[BY_KEY[key].stage]
            if outcome == REJECTED and number == len(passed) - 1:
                counts.rejected += 1
            else:
                counts.done += 1
        self._add_recorded_cost(cost)
        self.tracker.samples_finished += 1
        if outcome == DONE:
            self.tracker.per_split[SPLIT_NAMES.get(split, "unknown")] += 1
            branch = sample_id[len(origin) + 1:] if origin else ""
            record = DoneRecord(sample_id, seed_id, seed_index, query_index, split, origin, branch)
            self._remember_done(record, recorded_fingerprint(sample_id, text, phash1, phash2, entry[15:]))

    def _add_recorded_cost(self, cost: list) -> None:
        self.tracker.prompt_tokens += int(cost[0])
        self.tracker.completion_tokens += int(cost[1])
        self.tracker.gpu_seconds += float(cost[2])

    async def _restore(self, item: Seed | Sample, stage: PipelineStage | None,
                       existing: set[str]) -> None:
        """Replay an item's stored outputs from `stage` on; queue it at its
        first stage without one (or restore its failure there)."""
        while stage is not None:
            key = item.output_key(self.run_id, stage.key)
            if key not in existing:
                failure_key = layout.failure_record(self.run_id, item.id)
                if failure_key in existing:
                    await self._restore_failure(failure_key)
                    item.outcome = FAILED
                    self._close_unit(item)
                else:
                    await self.queues[stage.key].put(item)
                return
            result = stage.result_from_json((await self._read(key))["result"])
            moved = self._apply(stage, item, result, restoring=True)
            for other in (s for s in moved if s is not item):
                recorded = self.restored.samples.get(other.seed_id, {})
                if other.origin and other.id in recorded:
                    # A fork the manifest records while its origin is replayed.
                    self._restore_sample_entry(recorded.pop(other.id), other.seed_index)
                    self.open_units -= 1
                    self.tracker.changed()
                else:
                    await self._restore(other, following(stage, other), existing)
            if not any(s is item for s in moved):
                return
            stage = following(stage, item)
        raise AssertionError("unreachable: the last stage always ends a sample")

    async def _restore_failure(self, key: str) -> None:
        failure = json_format.ParseDict(await self._read(key), coordinator_pb2.SampleFailure())
        self.tracker.record_failure(failure)

    # -- workers ---------------------------------------------------------------------------

    async def _worker(self, stage: PipelineStage) -> None:
        queue = self.queues[stage.key]
        size = self.stage_configs[stage.key].batch_size
        while True:
            batch = [await queue.get()]
            while len(batch) < size:
                try:
                    batch.append(queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            await self._process(stage, batch)

    async def _call(self, stage: PipelineStage, pending: list) -> Sequence[Any]:
        """One batch call, counted and timed; its per-item results in order."""
        counts = self.tracker.stages[stage.stage]
        counts.in_flight += len(pending)
        self.tracker.changed()
        started = time.perf_counter()
        request = stage.request(pending, self.context, self.stage_configs[stage.key].backend)
        try:
            results = stage.results_of(await self.callers[stage.key](request), len(pending))
        except TransientStageError:
            self.metrics.stage_calls.labels(stage.key, "transient").inc()
            raise
        except StageCallError:
            self.metrics.stage_calls.labels(stage.key, "refused").inc()
            raise
        finally:
            self.metrics.stage_seconds.labels(stage.key).observe(time.perf_counter() - started)
            counts.in_flight -= len(pending)
            self.tracker.changed()
        self.metrics.stage_calls.labels(stage.key, "ok").inc()
        return results

    async def _process(self, stage: PipelineStage, batch: list) -> None:
        """One batch through one stage, with retries of transient faults per item."""
        policy = self.retry_policy(self.stage_configs[stage.key].max_attempts)
        pending = batch
        attempt = 0
        while pending:
            attempt += 1
            try:
                results = await self._call(stage, pending)
            except (TransientStageError, StageCallError) as exc:
                if isinstance(exc, StageCallError) or attempt >= policy.max_attempts:
                    await asyncio.gather(*(self._fail(stage, i, str(exc), attempt) for i in pending))
                    return
                log.info("retrying %s batch: %s", stage.key, exc,
                         extra={"run_id": self.run_id, "attempt": attempt})
                await asyncio.sleep(policy.delay(attempt))
                continue
            again = []
            outcomes = []
            for item, result in zip(pending, results):
                if result.HasField("error") and result.error.code:
                    error = result.error
                    if error.code in RETRYABLE_ITEM_CODES and attempt < policy.max_attempts:
                        again.append(item)
                        continue
                    reason = f"{error.code}: {error.field} {error.message}".strip()
                    outcomes.append(functools.partial(self._fail, stage, item, reason, attempt))
                else:
                    outcomes.append(functools.partial(self._accept, stage, item, result))
            await self._settle(stage, outcomes)
            pending = again
            if pending:
                await asyncio.sleep(policy.delay(attempt))

    async def _settle(self, stage: PipelineStage, outcomes: list[Callable[[], Awaitable[None]]]) -> None:
        """Write and hand on a batch's outcomes in the background, so the worker
        can make its next call meanwhile; at most `concurrency` batches settle
        at once per stage, so a slow store still holds the stage back."""
        if not outcomes:
            return
        slots = self.settling[stage.key]
        await slots.acquire()

        async def settle() -> None:
            try:
                await asyncio.gather(*(outcome() for outcome in outcomes))
            finally:
                slots.release()
        self.group.create_task(settle())

    # -- outcomes --------------------------------------------------------------------------

    async def _accept(self, stage: PipelineStage, item: Seed | Sample, result: Any) -> None:
        """Write the output durably, then move the item (or what it fanned out into) on."""
        await self._write(item.output_key(self.run_id, stage.key),
                          {**item.output_header(), "result": stage.result_to_json(result)})
        log.info("stage_done", extra={"run_id": self.run_id, "item": item.id, "stage": stage.key})
        moved = self._apply(stage, item, result, restoring=False)
        for sample in moved:
            await self.queues[following(stage, sample).key].put(sample)

    def _apply(self, stage: PipelineStage, item: Seed | Sample, result: Any,
               restoring: bool) -> list[Sample]:
        """Count a stage's result and apply it to the item: the samples that go
        on to the next stage; an item that does not go on is closed (rejected,
        fanned out, or done)."""
        counts = self.tracker.stages[stage.stage]
        provenances = stage.provenances(result)
        self.tracker.add_cost(provenances)
        noted = self.costs.setdefault(item.id, [0, 0, 0.0, [], []])
        for record in provenances:
            noted[0] += record.tokens.prompt_tokens
            noted[1] += record.tokens.completion_tokens
            noted[2] += record.gpu_seconds
        noted[3].append(stage.key)
        rejected = stage.rejected(result)
        if not restoring:
            self.metrics.items.labels(stage.key, REJECTED if rejected else DONE).inc()
        if rejected:
            counts.rejected += 1
            if isinstance(item, Sample):
                item.outcome = REJECTED
            self._note_outcome(item, [])
            self._close_unit(item)
            return []
        counts.done += 1
        # Forks are taken of the sample as this stage left it, and go on like fanned-out samples.
        moved = stage.apply(item, result, self.run_id) + forks(stage, item, self.config)
        for sample in (s for s in moved if s is not item):
            self.tracker.samples_total += 1
            self.open_units += 1
            if sample.origin:
                noted[4].append(sample.branch)
        if any(s is item for s in moved):
            self.tracker.changed()
        else:
            if isinstance(item, Sample):
                self.tracker.per_split[item.split] += 1
                item.outcome = DONE
                self._remember_done(done_record(item), fingerprint_of(item))
            self._note_outcome(item, moved)
            self._close_unit(item)
        return moved

    def _remember_done(self, record: DoneRecord, fingerprint: filter_pb2.Fingerprint) -> None:
        """What the end of the run needs of a done sample; the sample itself can go.
        A fork is not indexed: it shares its origin's verdict (finish.py)."""
        started = time.perf_counter()
        self.done.append(record)
        if not record.origin:
            self.near_duplicates.add(record.index_order, record.id, fingerprint)
        self.dedup_seconds += time.perf_counter() - started

    def _note_outcome(self, item: Seed | Sample, moved: list[Sample]) -> None:
        """The item's manifest entry, now that its outcome and outputs are durable."""
        prompt, completion, gpu, passed, branches = self.costs.pop(item.id, [0, 0, 0.0, [], []])
        if isinstance(item, Seed):
            self.manifest.note([SEED, item.seed.id, len(moved), prompt, completion, gpu])
            return
        fingerprint = fingerprint_of(item) if item.outcome == DONE else filter_pb2.Fingerprint()
        self.manifest.note([SAMPLE, item.id, item.seed_id, item.query_index,
                            item.outcome, passed, item.classified.split if item.classified else 0,
                            fingerprint.instruction_text, fingerprint.image1_phash, fingerprint.image2_phash,
                            prompt, completion, gpu, item.origin, branches, *embedding_fields(fingerprint)])

    async def _fail(self, stage: PipelineStage, item: Seed | Sample, reason: str, attempts: int) -> None:
        failure = coordinator_pb2.SampleFailure(sample_id=item.id, stage=stage.stage,
                                                reason=reason, attempts=attempts)
        await self._write(layout.failure_record(self.run_id, item.id),
                          json_format.MessageToDict(failure, preserving_proto_field_name=True))
        log.warning("sample failed", extra={"run_id": self.run_id, "item": item.id,
                                            "stage": stage.key, "reason": reason})
        self.metrics.items.labels(stage.key, FAILED).inc()
        self.costs.pop(item.id, None)
        if isinstance(item, Sample):
            item.outcome = FAILED
        self.tracker.record_failure(failure)
        self._close_unit(item)

    # -- the end of a run ------------------------------------------------------------------

    async def _finish(self) -> dict:
        done = sorted(self.done, key=lambda record: record.order)
        started = time.perf_counter()
        duplicates = {d.item_id: {"duplicate_of": d.duplicate_of, "reason": d.reason}
                      for d in self.near_duplicates.duplicates()}
        self.dedup_seconds += time.perf_counter() - started
        log.info("near-duplicates found", extra={
            "run_id": self.run_id, "done": len(done), "duplicates": len(duplicates),
            "seconds": round(self.dedup_seconds, 3)})
        result = select_samples(self.run_id, done, duplicates, self.config.targets,
                                sorted(self.tracker.failures))
        self.tracker.per_split.clear()
        self.tracker.per_split.update(result["per_split"])
        self.tracker.near_duplicates = len(result["duplicates"])
        self.tracker.changed()
        await self._write(layout.result_record(self.run_id), result)
        return result

    # -- the store -------------------------------------------------------------------------

    async def _write(self, key: str, value: Any) -> None:
        await retry(lambda: self.store.put_json(key, value), policy=STORE_RETRY,
                    transient=lambda e: isinstance(e, StoreError) and not isinstance(e, ObjectNotFound))

    async def _read(self, key: str) -> Any:
        value = self.reader.take(key) if self.reader is not None else None
        if value is not None:
            return value
        value, _ = await retry(lambda: self.store.get_json(key), policy=STORE_RETRY,
                               transient=lambda e: isinstance(e, StoreError)
                               and not isinstance(e, ObjectNotFound))
        return value
