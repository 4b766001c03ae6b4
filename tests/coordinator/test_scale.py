"""What keeps a run's cost flat as it grows, against the real stage services
(in this process, offline backends) and the real S3 server: a resume takes
recorded outcomes from the run's checkpoint and manifest instead of reading
their outputs again, without listing the run when it has a checkpoint, and
gets the same run with the checkpoint and manifest whole, stale or missing,
and after a stop mid-run; samples leave memory once they reach an outcome;
finished runs leave the run table and are read from the store."""

from __future__ import annotations

import asyncio
import gc
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field

import pytest

from mis.v1 import coordinator_pb2
from services.common.errors import NotFound
from services.common.store import AsyncStore, Store
from services.coordinator import checkpoint, layout, manifest
from services.coordinator.callers import GrpcCallers
from services.coordinator.finish import DoneRecord
from services.coordinator.inputs import load_inputs
from services.coordinator.pipeline import PipelineRun
from services.coordinator.progress import ProgressTracker
from services.coordinator.runs import RunManager
from services.coordinator.sample import Sample
from tests.coordinator.conftest import dataset_signature, small_config
from tests.coordinator.conftest import stored_outputs as outputs_of
from tests.coordinator.recording import Recording
from tests.coordinator.test_pipeline import finished

SUCCEEDED = coordinator_pb2.RUN_STATE_SUCCEEDED


@dataclass
class CountingStore(Store):
    """The real store, noting every JSON object read, every listing, and the
    checkpoints written (the first one kept, to make a stale one of it)."""

    reads: list[str] = field(default_factory=list)
    listed: list[str] = field(default_factory=list)
    checkpoints: list[bytes] = field(default_factory=list)
    checkpointed: threading.Event = field(default_factory=threading.Event)

    def get_json(self, key: str):
        self.reads.append(key)
        return super().get_json(key)

    def list_keys(self, prefix: str, recursive: bool = True, start_after: str | None = None):
        self.listed.append(prefix)
        return super().list_keys(prefix, recursive, start_after)

    def put_bytes(self, key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        super().put_bytes(key, data, content_type)
        if key.endswith("/checkpoint.json"):
            self.checkpoints.append(data)
            self.checkpointed.set()


@pytest.fixture
def every_flush_checkpoints(monkeypatch):
    """Small runs make several segments, and a checkpoint with each."""
    monkeypatch.setattr(manifest, "FLUSH_ITEMS", 4)
    monkeypatch.setattr(checkpoint, "CHECKPOINT_SECONDS", 0.0)
    monkeypatch.setattr(checkpoint, "COST_FACTOR", 0)


def stage_done_events_of(records) -> list[tuple[str, str]]:
    """(item, stage) of every durable stage output the coordinator logged."""
    return [tuple(label.rsplit(":", 1)) for r in records if r.getMessage() == "stage outputs stored"
            for label in r.outputs]


def lists_outputs(store: CountingStore) -> bool:
    return any("/samples/" in prefix or "/seeds/" in prefix for prefix in store.listed)


def outputs(keys) -> list[str]:
    """Stage outputs among keys: groups of them, and outputs stored one per key."""
    return [k for k in keys if k.endswith("/extract.json") or "/samples/" in k or "/outputs/" in k]


def progress_counts(progress: coordinator_pb2.RunProgress) -> dict:
    return {"stages": [(s.stage, s.done, s.rejected, s.failed) for s in progress.stages],
            "per_split": dict(progress.per_split), "samples": (progress.samples_total, progress.samples_finished),
            "tokens": (progress.tokens.prompt_tokens, progress.tokens.completion_tokens),
            "seeds": progress.seeds_total, "near_duplicates": progress.near_duplicates}


async def complete_run(store: Store, stages, run_id: str, limit: int) -> coordinator_pb2.Run:
    manager = RunManager(store, GrpcCallers(stages.stage_addresses()))
    await manager.start()
    run = await manager.create(small_config(limit=limit), run_id)
    final = await finished(manager, run.id)
    await manager.close()
    assert final.state == SUCCEEDED, final.message
    return final


def as_if_crashed_before_the_end(store: Store, run_id: str) -> None:
    """Every output stored, the result not: the state a crash at the very end leaves."""
    record = store.get_json(layout.run_record(run_id))
    store.put_json(layout.run_record(run_id), {**record, "state": "RUN_STATE_RUNNING"})
    store.delete(layout.result_record(run_id))
    store.delete(layout.progress_record(run_id))


KEPT = {  # what of the run's checkpoint and manifest a resume finds; does it list the outputs?
    "whole": False, "stale checkpoint": False, "stale checkpoint, later segments lost": False,
    "no checkpoint": True, "stale segments, no checkpoint": True, "nothing": True}


@pytest.mark.parametrize("kept", list(KEPT))
async def test_resume_gives_the_same_run_with_checkpoint_and_manifest_whole_stale_or_missing(
        stages, store, every_flush_checkpoints, kept):
    run_id = "kept-" + "-".join(kept.replace(",", "").split())
    first = CountingStore(store.client, store.bucket)
    final = await complete_run(first, stages, run_id, limit=10)
    result = store.get_json(layout.result_record(run_id))
    segments = sorted(store.list_keys(layout.manifest_prefix(run_id)))
    assert len(segments) >= 3 and len(first.checkpoints) >= 2
    recorded = [entry for key in segments for entry in store.get_json(key)["entries"]]
    assert {entry[1] for entry in recorded if entry[0] == manifest.SAMPLE} == {
        k.split("/")[3] for k in outputs_of(store, run_id) if "/samples/" in k}
    stale = first.checkpoints[0]
    if kept.startswith("stale checkpoint"):
        store.put_bytes(layout.checkpoint_record(run_id), stale, "application/json")
        after = store.get_json(layout.checkpoint_record(run_id))["next_segment"]
        later = [key for key in segments if int(key.rsplit("/", 1)[1].split(".")[0]) >= after]
        assert later, "the stale checkpoint leaves segments after it"
        if kept.endswith("lost"):
            for key in later[len(later) // 2:]:
                store.delete(key)
    if kept != "whole" and not kept.startswith("stale checkpoint"):
        store.delete(layout.checkpoint_record(run_id))
    for key in {"stale segments, no checkpoint": segments[len(segments) // 2:], "nothing": segments}.get(kept, []):
        store.delete(key)
    as_if_crashed_before_the_end(store, run_id)
    stored_outputs = set(outputs(store.list_keys(layout.run_prefix(run_id))))

    counting = CountingStore(store.client, store.bucket)
    manager = RunManager(counting, GrpcCallers(stages.stage_addresses()))
    await manager.start()
    resumed = await finished(manager, run_id)
    await manager.close()
    assert resumed.state == SUCCEEDED, resumed.message
    assert store.get_json(layout.result_record(run_id)) == result
    assert progress_counts(resumed.progress) == progress_counts(final.progress)
    assert lists_outputs(counting) == KEPT[kept]
    # Outputs read (probes of outputs never written aside), none twice.
    read = [key for key in outputs(counting.reads) if key in stored_outputs]
    assert len(read) == len(set(read))
    if kept in ("whole", "stale checkpoint", "no checkpoint"):
        assert read == []  # every outcome came from the checkpoint or the manifest
    elif kept == "nothing":
        assert sorted(read) == sorted(stored_outputs)  # each output replayed, once
    else:
        # A group holds outputs of many seeds (all in flight at once in a run
        # this small), so replaying some seeds may read every group, once.
        assert 0 < len(read) <= len(stored_outputs)
    # What was replayed is recorded again, so the next resume reads nothing.
    as_if_crashed_before_the_end(store, run_id)
    counting.reads.clear()
    manager = RunManager(counting, GrpcCallers(stages.stage_addresses()))
    await manager.start()
    again = await finished(manager, run_id)
    await manager.close()
    assert progress_counts(again.progress) == progress_counts(final.progress)
    assert outputs(counting.reads) == []


async def test_samples_leave_memory_once_they_reach_an_outcome(stages, store):
    config = small_config(limit=10)
    inputs = load_inputs(config, store)
    callers, close = await GrpcCallers(stages.stage_addresses()).open(config)
    engine = PipelineRun("memory", config, inputs, callers, AsyncStore(store), ProgressTracker())
    try:
        result = await engine.execute()
    finally:
        await close()
    assert result["samples"]
    made = {s["id"] for s in result["samples"]} | {d["id"] for d in result["duplicates"]}
    gc.collect()
    alive = [o for o in gc.get_objects() if isinstance(o, Sample) and o.id in made]
    # The engine is still here, but holds no sample: only what the end of the run needs.
    assert alive == []
    assert {record.id for record in engine.done} == made
    assert all(isinstance(record, DoneRecord) for record in engine.done)
    assert len(engine.near_duplicates) == len(made) and not engine.costs


async def test_a_finished_run_leaves_the_run_table_and_is_read_from_the_store(stages, store):
    manager = RunManager(store, GrpcCallers(stages.stage_addresses()))
    await manager.start()
    run = await manager.create(small_config(limit=3), "table")
    driver = manager.get(run.id).task
    final = await finished(manager, run.id)
    assert final.state == SUCCEEDED
    await driver  # SUCCEEDED is published before the run's channels close and it leaves the table
    assert run.id not in manager.runs
    with pytest.raises(NotFound):
        manager.get(run.id)
    found = await manager.find(run.id)
    assert found.run.state == SUCCEEDED
    assert progress_counts(found.tracker.to_proto()) == progress_counts(final.progress)
    assert [r.id for r in await manager.list()] == [run.id]
    assert (await manager.create(coordinator_pb2.RunConfig(), run.id)).state == SUCCEEDED
    assert run.id not in manager.runs
    with pytest.raises(NotFound):
        await manager.find("no-such-run")
    # Retrying puts it back in the table while it runs, and it leaves again.
    assert await manager.retry_failed(run.id) == 0
    assert run.id not in manager.runs
    await manager.close()


async def test_a_run_stopped_mid_way_resumes_from_its_checkpoint_without_listing_and_repeats_nothing(
        stages, store, reference_store, every_flush_checkpoints, caplog):
    caplog.set_level(logging.INFO, logger="mis.coordinator")
    config = small_config(limit=12)
    reference = await complete_run(reference_store, stages, "midway", limit=12)
    caplog.clear()  # only the interrupted run's two incarnations from here
    first = CountingStore(store.client, store.bucket)
    callers = Recording(stages.stage_addresses())
    # CoT labels are held: train samples stay in flight while the others finish.
    callers.gates["annotate"] = asyncio.Event()
    manager = RunManager(first, callers)
    await manager.create(config, "midway")
    await callers.wait_for(lambda: len(callers.sent["annotate"]) >= 2)
    first.checkpointed.clear()
    assert await asyncio.to_thread(first.checkpointed.wait, 60), "no checkpoint while samples were in flight"
    held = manager.get("midway").tracker.to_proto()
    assert 0 < held.samples_finished < held.samples_total
    await manager.close()  # stops driving the run: it stays RUNNING and resumes at the next start

    counting = CountingStore(store.client, store.bucket)
    manager = RunManager(counting, GrpcCallers(stages.stage_addresses()))
    await manager.start()
    resumed = await finished(manager, "midway")
    await manager.close()
    assert resumed.state == SUCCEEDED and not resumed.progress.failures, resumed.message
    restored = [r for r in caplog.records if r.getMessage() == "run restored"]
    assert [(r.checkpoint, r.probed) for r in restored] == [(False, False), (True, True)]
    assert restored[1].in_flight > 0  # it handed back what was in flight
    assert not lists_outputs(counting)
    assert dataset_signature(store, "midway") == dataset_signature(reference_store, "midway")
    assert progress_counts(resumed.progress) == progress_counts(reference.progress)
    done_twice = [event for event, n in Counter(stage_done_events_of(caplog.records)).items() if n > 1]
    assert not done_twice
