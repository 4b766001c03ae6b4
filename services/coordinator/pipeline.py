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
the same key. See docs/coordinator.md.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Sequence

from google.protobuf import json_format

from mis.v1 import common_pb2, coordinator_pb2
from services.common.backoff import Backoff, RetriesExhausted, retry
from services.common.store import AsyncStore, ObjectNotFound, StoreError
from services.coordinator import layout
from services.coordinator.callers import RETRYABLE_ITEM_CODES, BatchCaller
from services.coordinator.finish import dedup_request, select_samples
from services.coordinator.metrics import CoordinatorMetrics
from services.coordinator.progress import ProgressTracker
from services.coordinator.runconfig import stage_config
from services.coordinator.sample import DONE, FAILED, REJECTED, Sample, Seed
from services.coordinator.stages import (PIPELINE, PipelineStage, RunContext, StageCallError,
                                         TransientStageError, following, forks)

log = logging.getLogger("mis.coordinator.pipeline")

# Durable writes outlast a restarting store: about a minute of retries.
STORE_RETRY = Backoff(max_attempts=10, initial_seconds=0.5, max_seconds=8.0)
# The end-of-run deduplication, an RPC of whichever stage declares it.
DEDUP = "dedup"


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
        self.samples: dict[str, Sample] = {}
        self.queues: dict[str, asyncio.Queue] = {}
        self.open_units = 0
        self.feeding_done = False
        self.idle = asyncio.Event()
        self.group: asyncio.TaskGroup | None = None
        self.settling: dict[str, asyncio.Semaphore] = {}

    # -- the run ---------------------------------------------------------------------------

    async def execute(self) -> dict:
        """Run every seed to a terminal outcome, deduplicate, write result.json; return it."""
        existing = set(await self.store.list_keys(layout.run_prefix(self.run_id)))
        for key, cfg in self.stage_configs.items():
            self.queues[key] = asyncio.Queue(maxsize=max(2, cfg.concurrency * cfg.batch_size * 2))
            self.settling[key] = asyncio.Semaphore(cfg.concurrency)
        async with asyncio.TaskGroup() as group:
            self.group = group
            workers = [group.create_task(self._worker(stage), name=f"{stage.key}-{n}")
                       for stage in PIPELINE
                       for n in range(self.stage_configs[stage.key].concurrency)]
            await self._feed(existing)
            self.feeding_done = True
            self._check_idle()
            await self.idle.wait()
            for worker in workers:
                worker.cancel()
        return await self._finish()

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
        targets = self.config.targets
        wanted = {"train": targets.train, "easy": targets.easy, "hard": targets.hard}
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
        self.tracker.seeds_total = len({seed.id for seed in self.inputs.seeds})
        for index, seed in enumerate(self.inputs.seeds):
            if seed.id in seen:
                log.warning("duplicate seed id skipped", extra={"seed_id": seed.id})
                continue
            seen.add(seed.id)
            item = Seed(seed, index)
            failure_key = layout.failure_record(self.run_id, item.id)
            if item.output_key(self.run_id, first.key) in existing:
                self.open_units += 1
                await self._restore(item, first, existing)
            elif failure_key in existing:
                await self._restore_failure(failure_key)
            elif self.targets_reached():
                log.info("split targets reached; no further seeds started",
                         extra={"run_id": self.run_id, "seed_index": index})
                break
            else:
                self.open_units += 1
                await self.queues[first.key].put(item)

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
        self.tracker.add_cost(stage.provenances(result))
        rejected = stage.rejected(result)
        if not restoring:
            self.metrics.items.labels(stage.key, REJECTED if rejected else DONE).inc()
        if rejected:
            counts.rejected += 1
            if isinstance(item, Sample):
                item.outcome = REJECTED
            self._close_unit(item)
            return []
        counts.done += 1
        # Forks are taken of the sample as this stage left it, and go on like fanned-out samples.
        moved = stage.apply(item, result, self.run_id) + forks(stage, item, self.config)
        for sample in (s for s in moved if s is not item):
            self.samples[sample.id] = sample
            self.tracker.samples_total += 1
            self.open_units += 1
        if any(s is item for s in moved):
            self.tracker.changed()
        else:
            if isinstance(item, Sample):
                self.tracker.per_split[item.split] += 1
                item.outcome = DONE
            self._close_unit(item)
        return moved

    async def _fail(self, stage: PipelineStage, item: Seed | Sample, reason: str, attempts: int) -> None:
        failure = coordinator_pb2.SampleFailure(sample_id=item.id, stage=stage.stage,
                                                reason=reason, attempts=attempts)
        await self._write(layout.failure_record(self.run_id, item.id),
                          json_format.MessageToDict(failure, preserving_proto_field_name=True))
        log.warning("sample failed", extra={"run_id": self.run_id, "item": item.id,
                                            "stage": stage.key, "reason": reason})
        self.metrics.items.labels(stage.key, FAILED).inc()
        if isinstance(item, Sample):
            item.outcome = FAILED
        self.tracker.record_failure(failure)
        self._close_unit(item)

    # -- the end of a run ------------------------------------------------------------------

    async def _finish(self) -> dict:
        done = sorted((s for s in self.samples.values() if s.outcome == DONE),
                      key=lambda s: s.order)
        duplicates = await self._deduplicate(done)
        result = select_samples(self.run_id, done, duplicates, self.config.targets,
                                sorted(self.tracker.failures))
        self.tracker.per_split.clear()
        self.tracker.per_split.update(result["per_split"])
        self.tracker.near_duplicates = len(result["duplicates"])
        self.tracker.changed()
        await self._write(layout.result_record(self.run_id), result)
        return result

    async def _deduplicate(self, done: list[Sample]) -> dict[str, dict]:
        if not done:
            return {}
        request = dedup_request(done, self.config)
        owner = next(stage for stage in PIPELINE if DEDUP in stage.extra_apis)
        attempts = max(self.stage_configs[owner.key].max_attempts, 4)
        try:
            response, _ = await retry(lambda: self.callers[DEDUP](request),
                                      policy=self.retry_policy(attempts),
                                      transient=lambda e: isinstance(e, TransientStageError))
        except RetriesExhausted as exc:
            raise TransientStageError(f"deduplicate: {exc}") from exc
        return {d.item_id: {"duplicate_of": d.duplicate_of, "reason": d.reason}
                for d in response.duplicates}

    # -- the store -------------------------------------------------------------------------

    async def _write(self, key: str, value: Any) -> None:
        await retry(lambda: self.store.put_json(key, value), policy=STORE_RETRY,
                    transient=lambda e: isinstance(e, StoreError) and not isinstance(e, ObjectNotFound))

    async def _read(self, key: str) -> Any:
        value, _ = await retry(lambda: self.store.get_json(key), policy=STORE_RETRY,
                               transient=lambda e: isinstance(e, StoreError)
                               and not isinstance(e, ObjectNotFound))
        return value
