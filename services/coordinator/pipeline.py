"""The pipelined executor of one run.

Each stage has a bounded queue and `concurrency` workers; a worker takes up to
`batch_size` waiting items, makes one batch call, writes each item's output to
the store under its deterministic key (grouped with other outputs of the same
moments into one object, outputs.py), and only then hands the item to the
next stage's queue. So a sample moves on as soon as its stage is done (no
barrier between stages), a full queue blocks the stage before it
(backpressure: the slowest stage sets the pace and nothing piles up), and
every hand-off is durable before it happens.

The executor holds no per-stage code: what a stage sends and what its result
does to a sample are the stage's declaration (services/coordinator/stages/).

Resume is the same code path as a fresh start: the run walks its seeds in
order (restore.py) and, for each, takes what the store already holds; a
sample re-enters the pipeline at the first stage without an output. A stage
whose output was written is never called again; a call that was in flight
when the coordinator died is made again, and writing its output a second
time lands on the same key. The walk takes what it can from the run's
checkpoint and manifest (checkpoint.py, manifest.py) instead of the outputs.
See docs/coordinator.md.

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
from services.common.backoff import Backoff
from services.common.store import AsyncStore
from services.coordinator import layout
from services.coordinator.callers import RETRYABLE_ITEM_CODES, BatchCaller
from services.coordinator.checkpoint import CheckpointClock, Folded, checkpoint_bytes
from services.coordinator.fairshare import FairShare, shares_for
from services.coordinator.finish import (DoneRecord, done_record, embedding_fields, fingerprint_of,
                                         select_samples, split_limits, thresholds_of)
from services.coordinator.manifest import SAMPLE, SEED, ConcurrentReader, ManifestWriter
from services.coordinator.metrics import CoordinatorMetrics
from services.coordinator.outputs import GroupedWriter
from services.coordinator.progress import ProgressTracker
from services.coordinator.runconfig import stage_config
from services.coordinator.restore import RestoreWalk
from services.coordinator.sample import DONE, FAILED, REJECTED, SPLIT_NAMES, Sample, Seed
from services.coordinator.stages import (BRANCH_SPLITS, PIPELINE, PipelineStage, RunContext,
                                         StageCallError, TransientStageError, following, forks)
from services.filter.deduplication import RunDeduplication

log = logging.getLogger("mis.coordinator.pipeline")


@dataclass
class RunInputs:
    """What the engine needs besides the config: the seeds and the taxonomy."""

    seeds: Sequence[common_pb2.Seed]
    taxonomy: common_pb2.Taxonomy


class PipelineRun:
    def __init__(self, run_id: str, config: coordinator_pb2.RunConfig, inputs: RunInputs,
                 callers: dict[str, BatchCaller], store: AsyncStore, tracker: ProgressTracker,
                 retry_policy: Callable[[int], Backoff] | None = None,
                 metrics: CoordinatorMetrics | None = None, checkpoint_seconds: float | None = None,
                 shares: dict[str, FairShare] | None = None) -> None:
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
        # Every outcome noted, folded, for the checkpoint (checkpoint.py).
        self.folded = Folded(run_id)
        self.clock = CheckpointClock(checkpoint_seconds)
        # Each stage's calls in flight, shared fairly with the other runs (fairshare.py).
        self.shares = shares if shares is not None else shares_for(self.stage_configs)
        self.reader: ConcurrentReader | None = None
        self.manifest: ManifestWriter | None = None
        self.outputs: GroupedWriter | None = None
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
        for key, cfg in self.stage_configs.items():
            self.shares[key].join(self.run_id, cfg.concurrency)
        try:
            walk = RestoreWalk(self)
            await walk.open()
            self.manifest = ManifestWriter(self.run_id, self._write, walk.next_segment,
                                           checkpoint=self._checkpoint, groups=self._groups)
            self.outputs = GroupedWriter(self.run_id, self._write, walk.next_group)
            self.outputs.pins = walk.pins
            for key, cfg in self.stage_configs.items():
                self.queues[key] = asyncio.Queue(maxsize=max(2, cfg.concurrency * cfg.batch_size * 2))
                self.settling[key] = asyncio.Semaphore(cfg.concurrency)
            async with asyncio.TaskGroup() as group:
                self.group = group
                workers = [group.create_task(self._worker(stage), name=f"{stage.key}-{n}")
                           for stage in PIPELINE
                           for n in range(self.stage_configs[stage.key].concurrency)]
                group.create_task(self.manifest.run(), name="manifest")
                writer = group.create_task(self.outputs.run(), name="outputs")
                await walk.feed()
                self.feeding_done = True
                self._check_idle()
                await self.idle.wait()
                for task in (*workers, writer):  # no item waits on a write by now
                    task.cancel()
                self.manifest.stop()  # its last segment is written before the group ends
            return await self._finish()
        finally:
            for key in self.stage_configs:
                self.shares[key].leave(self.run_id)
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
        """One batch call, counted and timed, in one of the stage's fairly
        shared slots; its per-item results in order."""
        async with self.shares[stage.key].slot(self.run_id):
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
        """Write the output durably (grouped, outputs.py), then move the item (or its samples) on."""
        await self.outputs.put(item.output_key(self.run_id, stage.stored_as),
                               item.index if isinstance(item, Seed) else item.seed_index,
                               {**item.output_header(), **stage.stored_result(result)},
                               f"{item.id}:{stage.key}")
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
            fingerprint = None
            if isinstance(item, Sample):
                self.tracker.per_split[item.split] += 1
                item.outcome = DONE
                fingerprint = fingerprint_of(item)
                self._remember_done(done_record(item), fingerprint)
            self._note_outcome(item, moved, fingerprint)
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

    def _note_outcome(self, item: Seed | Sample, moved: list[Sample],
                      fingerprint: filter_pb2.Fingerprint | None = None) -> None:
        """The item's manifest entry, now that its outcome and outputs are
        durable; `fingerprint` is a done sample's (a rejected one has none)."""
        prompt, completion, gpu, passed, branches = self.costs.pop(item.id, [0, 0, 0.0, [], []])
        if isinstance(item, Seed):
            entry, seed_index = [SEED, item.seed.id, len(moved), prompt, completion, gpu], item.index
        else:
            fingerprint = filter_pb2.Fingerprint() if fingerprint is None else fingerprint
            entry = [SAMPLE, item.id, item.seed_id, item.query_index,
                     item.outcome, passed, item.classified.split if item.classified else 0,
                     fingerprint.instruction_text, fingerprint.image1_phash, fingerprint.image2_phash,
                     prompt, completion, gpu, item.origin, branches, *embedding_fields(fingerprint)]
            seed_index = item.seed_index
        self.manifest.note(entry)
        self.folded.fold(entry, seed_index)

    def _checkpoint(self, next_segment: int) -> Callable[[], Awaitable[None]] | None:
        """When one is due: the checkpoint of everything noted so far, made
        now (nothing changes while it is made), and how to store it."""
        if not self.clock.due():
            return None
        started = time.monotonic()
        groups = self._groups()
        data = checkpoint_bytes(next_segment, self.folded, self.done, self.near_duplicates,
                                groups["groups"], groups["groups_from"])
        self.clock.made(started)
        log.info("checkpoint made", extra={"run_id": self.run_id, "bytes": len(data),
                                           "seconds": round(self.clock.cost, 3), "next_segment": next_segment})
        return lambda: self.store.put_bytes(layout.checkpoint_record(self.run_id), data, "application/json")

    def _groups(self) -> dict:
        """Which groups of outputs a resume from what is noted now reads (outputs.py)."""
        return {"groups": self.outputs.needed(lambda index: index not in self.folded.covered),
                "groups_from": self.outputs.listed_from()}

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

    # -- the store: retries are its own (one layer, with the durable policy
    # the run manager gives it: runs.DURABLE_STORE) ----------------------------------------

    async def _write(self, key: str, value: Any) -> None:
        await self.store.put_json(key, value)

    async def _read(self, key: str) -> Any:
        value = self.reader.take(key) if self.reader is not None else None
        if value is not None:
            return value
        return await self.store.get_json(key)
