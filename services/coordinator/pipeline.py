"""The pipelined executor of one run.

Each stage has a bounded queue and `concurrency` workers; a worker takes up to
`batch_size` waiting items, makes one batch call, writes each item's output to
the store under its deterministic key, and only then hands the item to the
next stage's queue. So a sample moves on as soon as its stage is done (no
barrier between stages), a full queue blocks the stage before it
(backpressure: the slowest stage sets the pace and nothing piles up), and
every hand-off is durable before it happens.

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

from mis.v1 import (common_pb2, cot_annotator_pb2, coordinator_pb2, detoxifier_pb2,
                    extractor_pb2, filter_pb2, t2i_refiner_pb2)
from services.common.backoff import Backoff, RetriesExhausted, retry
from services.common.store import AsyncStore, ObjectNotFound, StoreError
from services.coordinator import layout
from services.coordinator.finish import dedup_request, select_samples
from services.coordinator.metrics import CoordinatorMetrics
from services.coordinator.progress import SPLIT_NAMES, ProgressTracker
from services.coordinator.runconfig import (BY_KEY, DEFAULT_QUERIES_PER_SEED, PIPELINE,
                                            stage_config)
from services.coordinator.stages import (BatchCaller, StageCallError, TransientStageError,
                                         provenances_of, result_from_json, result_to_json,
                                         results_of)

log = logging.getLogger("mis.coordinator.pipeline")

FINAL = "done"
# Durable writes outlast a restarting store: about a minute of retries.
STORE_RETRY = Backoff(max_attempts=10, initial_seconds=0.5, max_seconds=8.0)


@dataclass
class SampleState:
    """One sample as it moves through the stages (what the next stage needs)."""

    id: str
    seed_id: str
    seed_index: int
    query_index: int
    query: common_pb2.HarmfulQuery
    instruction: common_pb2.NeutralInstruction | None = None
    pair: common_pb2.ImagePair | None = None
    classified: filter_pb2.ClassifyResult | None = None
    outcome: str = ""   # "", "done", "rejected", "failed"

    @property
    def order(self) -> tuple[int, int]:
        return (self.seed_index, self.query_index)


@dataclass
class SeedItem:
    seed: common_pb2.Seed
    index: int

    @property
    def id(self) -> str:
        return "seed-" + layout.seed_key(self.seed.id)


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
        self.callers = callers
        self.store = store
        self.tracker = tracker
        self.stage_configs = {info.key: stage_config(config, info) for info in PIPELINE}
        self.retry_policy = retry_policy or (lambda attempts: Backoff(
            max_attempts=attempts, initial_seconds=0.25, max_seconds=5.0))
        self.metrics = metrics or CoordinatorMetrics()
        self.samples: dict[str, SampleState] = {}
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
            workers = [group.create_task(self._worker(key), name=f"{key}-{n}")
                       for key, cfg in self.stage_configs.items() for n in range(cfg.concurrency)]
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

    def _close_unit(self, sample: bool = True) -> None:
        """One seed (extract rejected it) or sample reached its outcome."""
        self.open_units -= 1
        if sample:
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
        started (they have an extract output or a failure) are always restored,
        so the seeds a run covers are a prefix of the seed list whatever the
        timing (see docs/coordinator.md)."""
        seen: set[str] = set()
        self.tracker.seeds_total = len({seed.id for seed in self.inputs.seeds})
        for index, seed in enumerate(self.inputs.seeds):
            if seed.id in seen:
                log.warning("duplicate seed id skipped", extra={"seed_id": seed.id})
                continue
            seen.add(seed.id)
            item = SeedItem(seed, index)
            extract_key = layout.extract_output(self.run_id, seed.id)
            failure_key = layout.failure_record(self.run_id, item.id)
            if extract_key in existing:
                data = await self._read(extract_key)
                await self._after_extract(item, result_from_json("extract", data["result"]),
                                          existing, restoring=True)
            elif failure_key in existing:
                await self._restore_failure(failure_key)
            elif self.targets_reached():
                log.info("split targets reached; no further seeds started",
                         extra={"run_id": self.run_id, "seed_index": index})
                break
            else:
                self.open_units += 1
                await self.queues["extract"].put(item)

    async def _restore_failure(self, key: str) -> None:
        failure = json_format.ParseDict(await self._read(key), coordinator_pb2.SampleFailure())
        self.tracker.record_failure(failure)

    # -- workers ---------------------------------------------------------------------------

    async def _worker(self, stage: str) -> None:
        queue = self.queues[stage]
        size = self.stage_configs[stage].batch_size
        while True:
            batch = [await queue.get()]
            while len(batch) < size:
                try:
                    batch.append(queue.get_nowait())
                except asyncio.QueueEmpty:
                    break
            await self._process(stage, batch)

    def _request(self, stage: str, items: list) -> Any:
        config = self.config
        backend = self.stage_configs[stage].backend
        if stage == "extract":
            return extractor_pb2.ExtractBatchRequest(
                seeds=[i.seed for i in items], options=extractor_pb2.ExtractOptions(
                    backend=backend, taxonomy=self.inputs.taxonomy,
                    queries_per_seed=config.queries_per_seed or DEFAULT_QUERIES_PER_SEED))
        if stage == "detoxify":
            return detoxifier_pb2.DetoxifyBatchRequest(
                queries=[i.query for i in items],
                options=detoxifier_pb2.DetoxifyOptions(backend=backend, taxonomy=self.inputs.taxonomy))
        if stage == "render":
            options = t2i_refiner_pb2.RenderOptions()
            if config.HasField("render"):
                json_format.ParseDict(json_format.MessageToDict(config.render), options)
            if backend and not options.renderer:
                options.renderer = backend
            if config.refinement_rounds:
                options.refinement_rounds = config.refinement_rounds
            return t2i_refiner_pb2.RenderPairBatchRequest(
                instructions=[i.instruction for i in items], options=options)
        if stage == "filter":
            return filter_pb2.ClassifyBatchRequest(
                items=[filter_pb2.FilterItem(id=i.id, instruction=i.instruction, images=i.pair)
                       for i in items],
                options=filter_pb2.FilterOptions(backend=backend, taxonomy=self.inputs.taxonomy))
        if stage == "annotate":
            return cot_annotator_pb2.AnnotateBatchRequest(
                items=[cot_annotator_pb2.AnnotateItem(id=i.id, instruction=i.instruction,
                                                      images=i.pair, harmful_query=i.query.query)
                       for i in items],
                options=cot_annotator_pb2.AnnotateOptions(
                    backend=backend, max_regenerations=config.max_cot_regenerations,
                    use_judge=config.use_judge))
        raise KeyError(stage)

    async def _process(self, stage: str, batch: list) -> None:
        """One batch through one stage, with retries of transient faults per item."""
        cfg = self.stage_configs[stage]
        policy = self.retry_policy(cfg.max_attempts)
        counts = self.tracker.stages[BY_KEY[stage].stage]
        pending = batch
        attempt = 0
        while pending:
            attempt += 1
            counts.in_flight += len(pending)
            self.tracker.changed()
            started = time.perf_counter()
            try:
                response = await self.callers[stage](self._request(stage, pending))
                results = results_of(stage, response, len(pending))
                self.metrics.stage_calls.labels(stage, "ok").inc()
            except TransientStageError as exc:
                self.metrics.stage_calls.labels(stage, "transient").inc()
                if attempt >= policy.max_attempts:
                    await asyncio.gather(*(self._fail(stage, i, str(exc), attempt) for i in pending))
                    return
                log.info("retrying %s batch: %s", stage, exc,
                         extra={"run_id": self.run_id, "attempt": attempt})
                await asyncio.sleep(policy.delay(attempt))
                continue
            except StageCallError as exc:
                self.metrics.stage_calls.labels(stage, "refused").inc()
                await asyncio.gather(*(self._fail(stage, i, str(exc), attempt) for i in pending))
                return
            finally:
                self.metrics.stage_seconds.labels(stage).observe(time.perf_counter() - started)
                counts.in_flight -= len(pending)
                self.tracker.changed()
            again = []
            outcomes = []
            for item, result in zip(pending, results):
                if result.HasField("error") and result.error.code:
                    reason = f"{result.error.code}: {result.error.field} {result.error.message}".strip()
                    if result.error.code in _RETRYABLE_ITEM_CODES and attempt < policy.max_attempts:
                        again.append(item)
                    else:
                        outcomes.append(functools.partial(self._fail, stage, item, reason, attempt))
                else:
                    outcomes.append(functools.partial(self._accept, stage, item, result))
            await self._settle(stage, outcomes)
            pending = again
            if pending:
                await asyncio.sleep(policy.delay(attempt))

    async def _settle(self, stage: str, outcomes: list[Callable[[], Awaitable[None]]]) -> None:
        """Write and hand on a batch's outcomes in the background, so the worker
        can make its next call meanwhile; at most `concurrency` batches settle
        at once per stage, so a slow store still holds the stage back."""
        if not outcomes:
            return
        slots = self.settling[stage]
        await slots.acquire()

        async def settle() -> None:
            try:
                await asyncio.gather(*(outcome() for outcome in outcomes))
            finally:
                slots.release()
        self.group.create_task(settle())

    # -- outcomes --------------------------------------------------------------------------

    async def _accept(self, stage: str, item: Any, result: Any) -> None:
        """Write the output durably, then move the item on."""
        if stage == "extract":
            await self._write(layout.extract_output(self.run_id, item.seed.id),
                              {"seed_id": item.seed.id, "seed_index": item.index,
                               "result": result_to_json(result)})
            log.info("stage_done", extra={"run_id": self.run_id, "item": item.id, "stage": stage})
            await self._after_extract(item, result, set(), restoring=False)
            return
        await self._write(layout.stage_output(self.run_id, item.id, stage),
                          {"sample_id": item.id, "result": result_to_json(result)})
        log.info("stage_done", extra={"run_id": self.run_id, "item": item.id, "stage": stage})
        await self._advance(stage, item, result)

    async def _after_extract(self, item: SeedItem, result: extractor_pb2.ExtractResult,
                             existing: set[str], restoring: bool) -> None:
        counts = self.tracker.stages[common_pb2.STAGE_EXTRACT]
        self.tracker.add_cost(provenances_of("extract", result))
        if result.HasField("rejection") or not result.queries:
            counts.rejected += 1
            if not restoring:
                self.metrics.items.labels("extract", "rejected").inc()
                self._close_unit(sample=False)
            return
        counts.done += 1
        samples = []
        for query_index, query in enumerate(result.queries):
            sample_id = layout.sample_id(self.run_id, item.seed.id, query_index)
            query = common_pb2.HarmfulQuery()
            query.CopyFrom(result.queries[query_index])
            query.id = sample_id
            query.seed_id = item.seed.id
            sample = SampleState(sample_id, item.seed.id, item.index, query_index, query)
            self.samples[sample_id] = sample
            samples.append(sample)
        self.tracker.samples_total += len(samples)
        self.open_units += len(samples) - (0 if restoring else 1)
        self.tracker.changed()
        for sample in samples:
            if restoring:
                await self._restore(sample, existing)
            else:
                await self.queues["detoxify"].put(sample)

    async def _restore(self, sample: SampleState, existing: set[str]) -> None:
        """Replay a sample's stored outputs; queue it at its first missing stage."""
        for stage in layout.STAGE_KEYS[1:]:
            key = layout.stage_output(self.run_id, sample.id, stage)
            if key not in existing:
                failure_key = layout.failure_record(self.run_id, sample.id)
                if failure_key in existing:
                    await self._restore_failure(failure_key)
                    sample.outcome = "failed"
                    self._close_unit()
                    return
                await self.queues[stage].put(sample)
                return
            result = result_from_json(stage, (await self._read(key))["result"])
            next_stage = await self._advance(stage, sample, result, restoring=True)
            if next_stage is None:
                return
        raise AssertionError("unreachable: annotate always ends a sample")

    async def _advance(self, stage: str, sample: SampleState, result: Any,
                       restoring: bool = False) -> str | None:
        """Apply a stage's result to a sample; queue it onward (unless restoring,
        where the caller walks on) and return the next stage, or None when the
        sample reached an outcome."""
        counts = self.tracker.stages[BY_KEY[stage].stage]
        self.tracker.add_cost(provenances_of(stage, result))
        next_stage: str | None
        if not restoring:
            outcome = "rejected" if result.HasField("rejection") else "done"
            self.metrics.items.labels(stage, outcome).inc()
        if result.HasField("rejection"):
            counts.rejected += 1
            sample.outcome = "rejected"
            self._close_unit()
            return None
        counts.done += 1
        if stage == "detoxify":
            sample.instruction = common_pb2.NeutralInstruction()
            sample.instruction.CopyFrom(result.instruction)
            sample.instruction.id = sample.id
            sample.instruction.query_id = sample.id
            next_stage = "render"
        elif stage == "render":
            sample.pair = common_pb2.ImagePair()
            sample.pair.CopyFrom(result.pair)
            next_stage = "filter"
        elif stage == "filter":
            sample.classified = result
            if result.split == common_pb2.SPLIT_TRAIN:
                next_stage = "annotate"
            else:
                next_stage = FINAL
        else:
            next_stage = FINAL
        if next_stage == FINAL:
            self.tracker.per_split[SPLIT_NAMES.get(sample.classified.split, "unknown")] += 1
            sample.outcome = "done"
            self._close_unit()
            return None
        self.tracker.changed()
        if not restoring:
            await self.queues[next_stage].put(sample)
        return next_stage

    async def _fail(self, stage: str, item: Any, reason: str, attempts: int) -> None:
        failure = coordinator_pb2.SampleFailure(sample_id=item.id, stage=BY_KEY[stage].stage,
                                                reason=reason, attempts=attempts)
        await self._write(layout.failure_record(self.run_id, item.id),
                          json_format.MessageToDict(failure, preserving_proto_field_name=True))
        log.warning("sample failed", extra={"run_id": self.run_id, "item": item.id,
                                            "stage": stage, "reason": reason})
        self.metrics.items.labels(stage, "failed").inc()
        if isinstance(item, SampleState):
            item.outcome = "failed"
        self.tracker.record_failure(failure)
        self._close_unit(sample=isinstance(item, SampleState))

    # -- the end of a run ------------------------------------------------------------------

    async def _finish(self) -> dict:
        done = sorted((s for s in self.samples.values() if s.outcome == "done"),
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

    async def _deduplicate(self, done: list[SampleState]) -> dict[str, dict]:
        if not done:
            return {}
        request = dedup_request(done, self.config)
        cfg = self.stage_configs["filter"]
        try:
            response, _ = await retry(lambda: self.callers["dedup"](request),
                                      policy=self.retry_policy(max(cfg.max_attempts, 4)),
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


_RETRYABLE_ITEM_CODES = {"UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED",
                         "INTERNAL", "UNKNOWN"}
