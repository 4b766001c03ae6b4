"""Runs: create, get, list, cancel, watch and retry, each a run driven by a
`PipelineRun` in a task of this process and recorded in the store.

The store is the only state: `run.json` says what the run is and whether it
is finished, the stage outputs say how far each sample got. At start the
manager reads every run record and resumes each one not finished, so a
coordinator killed at any moment and started again carries on where the
store says it was.

The run table holds only the runs this process drives: a run that ends
leaves it (its record and final progress are in the store), and reads of a
finished run (`find`, `list`, `watch`) come from the store, so the table does
not grow with every run the coordinator has ever made.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from dataclasses import dataclass, field
from typing import AsyncIterator, Awaitable, Callable, Protocol

from google.protobuf import json_format, timestamp_pb2

from mis.v1 import common_pb2, coordinator_pb2
from services.common.backoff import Backoff
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.common.store import AsyncStore, ObjectNotFound, Store
from services.coordinator import layout
from services.coordinator.inputs import InputsChanged, check_unchanged, inputs_digest, load_inputs
from services.coordinator.localpaths import LocalRoots
from services.coordinator.metrics import CoordinatorMetrics
from services.coordinator.fairshare import shares_for
from services.coordinator.pipeline import PipelineRun
from services.coordinator.progress import ProgressTracker
from services.coordinator.callers import BatchCaller
from services.coordinator.runconfig import RunConfigError, validate_run_config, validate_served
from services.coordinator.stages import PIPELINE

log = logging.getLogger("mis.coordinator.runs")

State = coordinator_pb2.RunState
ACTIVE = {State.RUN_STATE_PENDING, State.RUN_STATE_RUNNING}
# Matched as a whole string: `$` would let a trailing newline through.
_RUN_ID = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
# The store's one retry layer, bounded for durable run state: a restarting
# store is ridden out for up to a minute (no attempt starts after 60 s), then
# the write fails and the run is FAILED with the error (retry-failed resumes it).
DURABLE_STORE = Backoff(max_attempts=60, initial_seconds=0.25, max_seconds=8.0, max_elapsed_seconds=60.0)


class CallerFactory(Protocol):
    """Opens the stage callers for a run config; returns them and a closer."""

    def check(self, config: coordinator_pb2.RunConfig) -> None: ...

    async def describe(self, config: coordinator_pb2.RunConfig
                       ) -> dict[str, list[tuple[str, common_pb2.StageInfo]]]: ...

    async def open(self, config: coordinator_pb2.RunConfig
                   ) -> tuple[dict[str, BatchCaller], Callable[[], Awaitable[None]]]: ...


@dataclass
class RunHandle:
    run: coordinator_pb2.Run
    tracker: ProgressTracker = field(default_factory=ProgressTracker)
    task: asyncio.Task | None = None
    cancel_requested: bool = False


def _now() -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.GetCurrentTime()
    return stamp


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "run"


class RunManager:
    def __init__(self, store: Store, callers: CallerFactory, *, resume: bool = True,
                 metrics: CoordinatorMetrics | None = None, roots: LocalRoots | None = None,
                 store_retry: Backoff = DURABLE_STORE, checkpoint_seconds: float | None = None,
                 stage_calls_in_flight: int = 0) -> None:
        store = store.with_backoff(store_retry)
        self.store = store
        self.checkpoint_seconds = checkpoint_seconds
        # Shared by every run this process drives: a stage's calls in flight
        # go round robin among the runs waiting (fairshare.py).
        self.shares = shares_for((stage.key for stage in PIPELINE), stage_calls_in_flight)
        self.roots = roots or LocalRoots.parse("")
        self.metrics = metrics or CoordinatorMetrics()
        self.async_store = AsyncStore(store)
        self.callers = callers
        self.resume = resume
        # The runs this process drives, by id; finished runs are read from the store.
        self.runs: dict[str, RunHandle] = {}

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Read every run record; resume the unfinished ones."""
        if not self.resume:
            return
        for record in await self._records():
            if record.state in ACTIVE and record.id not in self.runs:
                log.info("resuming run", extra={"run_id": record.id})
                handle = RunHandle(record)
                self.runs[record.id] = handle
                self._launch(handle)

    async def _records(self) -> list[coordinator_pb2.Run]:
        """Every run record in the store, read concurrently."""
        prefixes = await asyncio.to_thread(lambda: list(self.store.list_keys(layout.RUNS, recursive=False)))
        ids = [prefix[len(layout.RUNS):].strip("/") for prefix in prefixes]
        loaded = await asyncio.gather(*(self._load(run_id, progress=False) for run_id in ids if run_id))
        return [handle.run for handle in loaded if handle is not None]

    async def _load(self, run_id: str, progress: bool = True) -> RunHandle | None:
        """A run as the store has it (None when it has no record); the final
        progress of a run that ended."""
        try:
            handle = RunHandle(_run_from_json(await self.async_store.get_json(layout.run_record(run_id))))
        except ObjectNotFound:
            return None
        if progress and handle.run.state not in ACTIVE:
            try:
                handle.tracker = _tracker_from(json_format.ParseDict(
                    await self.async_store.get_json(layout.progress_record(run_id)),
                    coordinator_pb2.RunProgress(), ignore_unknown_fields=True))
            except ObjectNotFound:
                pass
        return handle

    async def close(self) -> None:
        """Stop driving runs without changing their state: they resume at the next start."""
        tasks = [h.task for h in self.runs.values() if h.task is not None and not h.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- operations ------------------------------------------------------------------------

    async def create(self, config: coordinator_pb2.RunConfig, run_id: str = "") -> coordinator_pb2.Run:
        if run_id:
            if not _RUN_ID.fullmatch(run_id):
                raise InvalidArgument("run_id", "lower-case letters, digits, '.', '_' and '-', "
                                                "at most 63, starting with a letter or digit")
            if run_id in self.runs:
                return self.snapshot(self.runs[run_id])
            stored = await self._load(run_id)
            if stored is not None:
                return self.snapshot(stored)
        try:
            validate_run_config(config)
        except RunConfigError as exc:
            raise InvalidArgument(f"config.{exc.key}" if exc.key else "config", exc.reason) from None
        self.callers.check(config)
        try:
            inputs = await asyncio.to_thread(load_inputs, config, self.store, self.roots)
        except InvalidArgument as exc:
            raise InvalidArgument(f"config.{exc.field}", exc.reason) from None
        await self._check_served(config)
        run_id = run_id or f"{_slug(config.name)}-{secrets.token_hex(4)}"
        now = _now()
        record = coordinator_pb2.Run(id=run_id, config=config, state=State.RUN_STATE_PENDING,
                                     created_at=now, updated_at=now,
                                     message=f"{len(inputs.seeds)} seeds",
                                     inputs_sha256=inputs_digest(inputs))
        handle = RunHandle(record)
        self.runs[run_id] = handle
        await self._persist(handle)
        self._launch(handle)
        return self.snapshot(handle)

    async def _check_served(self, config: coordinator_pb2.RunConfig) -> None:
        """The run against what its stages say they serve (GetInfo): an option
        no stage serves is INVALID_ARGUMENT naming its key; a stage that does
        not answer is UNAVAILABLE (raised by `describe`)."""
        try:
            validate_served(config, await self.callers.describe(config))
        except RunConfigError as exc:
            raise InvalidArgument(f"config.{exc.key}", exc.reason) from None

    def get(self, run_id: str) -> RunHandle:
        """A run this process drives (no store read)."""
        handle = self.runs.get(run_id)
        if handle is None:
            raise NotFound(f"run {run_id!r} not found")
        return handle

    async def find(self, run_id: str) -> RunHandle:
        """Any run: the live one this process drives, or the store's record."""
        handle = self.runs.get(run_id) or await self._load(run_id)
        if handle is None:
            raise NotFound(f"run {run_id!r} not found")
        return handle

    async def list(self) -> list[coordinator_pb2.Run]:
        stored = [self.runs.get(record.id) or RunHandle(record) for record in await self._records()]
        handles = sorted(stored, key=lambda h: (h.run.created_at.ToNanoseconds(), h.run.id))
        return [self.snapshot(h) for h in handles]

    async def cancel(self, run_id: str) -> coordinator_pb2.Run:
        handle = await self.find(run_id)
        if handle.run.state in ACTIVE:
            handle.cancel_requested = True
            if handle.task is not None and not handle.task.done():
                handle.task.cancel()
                await asyncio.gather(handle.task, return_exceptions=True)
            await self._set_state(handle, State.RUN_STATE_CANCELLED, "cancelled by request")
            self._forget(handle)
        return self.snapshot(handle)

    async def retry_failed(self, run_id: str) -> int:
        """Put a finished run's failed samples back into the pipeline."""
        handle = await self.find(run_id)
        if handle.run.state in ACTIVE:
            raise FailedPrecondition(f"run {run_id} is still running; retry its failures when it ends")
        keys = await self.async_store.list_keys(layout.failures_prefix(run_id))
        if not keys and handle.run.state == State.RUN_STATE_SUCCEEDED:
            return 0
        # Failures of a run the stages cannot serve would only fail again.
        await self._check_served(handle.run.config)
        for key in keys:
            await asyncio.to_thread(self.store.delete, key)
        handle.cancel_requested = False
        handle.tracker.reset()
        self.runs[run_id] = handle
        await self._set_state(handle, State.RUN_STATE_RUNNING, f"retrying {len(keys)} failed items")
        self._launch(handle)
        return len(keys)

    async def watch(self, run_id: str, interval: float = 0.25) -> AsyncIterator[coordinator_pb2.Run]:
        """Snapshots on every change (at most one per `interval`) until the run ends."""
        handle = await self.find(run_id)
        while True:
            change = handle.tracker.next_change()
            snapshot = self.snapshot(handle)
            yield snapshot
            if snapshot.state not in ACTIVE:
                return
            try:
                await asyncio.wait_for(change.wait(), timeout=2.0)
            except asyncio.TimeoutError:
                pass  # a snapshot now and then even when nothing moves
            await asyncio.sleep(interval)

    def snapshot(self, handle: RunHandle) -> coordinator_pb2.Run:
        run = coordinator_pb2.Run()
        run.CopyFrom(handle.run)
        run.progress.CopyFrom(handle.tracker.to_proto())
        return run

    # -- driving a run ---------------------------------------------------------------------

    def _launch(self, handle: RunHandle) -> None:
        handle.task = asyncio.create_task(self._drive(handle), name=f"run-{handle.run.id}")

    async def _drive(self, handle: RunHandle) -> None:
        run_id = handle.run.id
        close: Callable[[], Awaitable[None]] | None = None
        try:
            handle.tracker.reset()
            await self._set_state(handle, State.RUN_STATE_RUNNING, "running")
            inputs = await asyncio.to_thread(load_inputs, handle.run.config, self.store, self.roots)
            check_unchanged(handle.run.inputs_sha256, inputs)
            callers, close = await self.callers.open(handle.run.config)
            engine = PipelineRun(run_id, handle.run.config, inputs, callers, self.async_store,
                                 handle.tracker, metrics=self.metrics,
                                 checkpoint_seconds=self.checkpoint_seconds, shares=self.shares)
            result = await engine.execute()
            failed = len(result["failed"])
            counts = ", ".join(f"{k} {v}" for k, v in sorted(result["per_split"].items())) or "no samples"
            message = f"finished: {counts}; {len(result['duplicates'])} near-duplicates removed" + (
                f"; {failed} failed (mis runs retry-failed {run_id})" if failed else "")
            await self._persist_progress(handle)
            await self._set_state(handle, State.RUN_STATE_SUCCEEDED, message)
            log.info("run finished", extra={"run_id": run_id, "per_split": result["per_split"],
                                            "failed": failed})
        except asyncio.CancelledError:
            if handle.cancel_requested:
                await self._persist_progress(handle)
            raise
        except InputsChanged as exc:
            log.error("run not resumed: %s", exc, extra={"run_id": run_id})
            await self._set_state(handle, State.RUN_STATE_FAILED, str(exc))
        except Exception as exc:
            log.exception("run failed", extra={"run_id": run_id})
            cause = _first_cause(exc)
            await self._persist_progress(handle)
            await self._set_state(handle, State.RUN_STATE_FAILED,
                                  f"{type(cause).__name__}: {cause} (mis runs retry-failed {run_id} resumes it)")
        finally:
            if close is not None:
                await close()
            if handle.run.state not in ACTIVE:
                self._forget(handle)

    def _forget(self, handle: RunHandle) -> None:
        """A run that ended leaves the table; its record and progress are in the store."""
        if self.runs.get(handle.run.id) is handle:
            del self.runs[handle.run.id]

    async def _set_state(self, handle: RunHandle, state: int, message: str) -> None:
        handle.run.state = state
        handle.run.message = message
        handle.run.updated_at.CopyFrom(_now())
        await self._persist(handle)
        handle.tracker.changed()

    async def _persist(self, handle: RunHandle) -> None:
        await self.async_store.put_json(layout.run_record(handle.run.id), _run_to_json(handle.run))

    async def _persist_progress(self, handle: RunHandle) -> None:
        await self.async_store.put_json(layout.progress_record(handle.run.id), json_format.MessageToDict(
            handle.tracker.to_proto(), preserving_proto_field_name=True))


def _first_cause(exc: BaseException) -> BaseException:
    """The error inside a task group's ExceptionGroup, which says what went wrong."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _run_to_json(run: coordinator_pb2.Run) -> dict:
    record = coordinator_pb2.Run()
    record.CopyFrom(run)
    record.ClearField("progress")
    return json_format.MessageToDict(record, preserving_proto_field_name=True)


def _run_from_json(data: dict) -> coordinator_pb2.Run:
    return json_format.ParseDict(data, coordinator_pb2.Run(), ignore_unknown_fields=True)


def _tracker_from(progress: coordinator_pb2.RunProgress) -> ProgressTracker:
    tracker = ProgressTracker()
    for stage in progress.stages:
        if stage.stage in tracker.stages:
            counts = tracker.stages[stage.stage]
            counts.done, counts.rejected, counts.failed = stage.done, stage.rejected, stage.failed
    tracker.per_split.update(dict(progress.per_split))
    tracker.failures = {f.sample_id: f for f in progress.failures}
    tracker.prompt_tokens = progress.tokens.prompt_tokens
    tracker.completion_tokens = progress.tokens.completion_tokens
    tracker.gpu_seconds = progress.gpu_seconds
    tracker.samples_total = progress.samples_total
    tracker.samples_finished = progress.samples_finished
    tracker.seeds_total = progress.seeds_total
    tracker.near_duplicates = progress.near_duplicates
    return tracker


__all__ = ["RunManager", "RunHandle", "CallerFactory", "DURABLE_STORE"]
