"""What keeps a run's cost flat as it grows, against the real stage services
(in this process, offline backends) and the real S3 server: a resume takes
recorded outcomes from the run's manifest instead of reading their outputs
again, and gets the same run with the manifest whole, stale or missing;
samples leave memory once they reach an outcome; finished runs leave the run
table and are read from the store."""

from __future__ import annotations

import gc
from dataclasses import dataclass, field

import pytest

from mis.v1 import coordinator_pb2
from services.common.errors import NotFound
from services.common.store import AsyncStore, Store
from services.coordinator import layout, manifest
from services.coordinator.callers import GrpcCallers
from services.coordinator.finish import DoneRecord
from services.coordinator.inputs import load_inputs
from services.coordinator.pipeline import PipelineRun
from services.coordinator.progress import ProgressTracker
from services.coordinator.runs import RunManager
from services.coordinator.sample import Sample
from tests.coordinator.conftest import small_config
from tests.coordinator.test_pipeline import finished

SUCCEEDED = coordinator_pb2.RUN_STATE_SUCCEEDED


@dataclass
class CountingStore(Store):
    """The real store, noting every JSON object read."""

    reads: list[str] = field(default_factory=list)

    def get_json(self, key: str):
        self.reads.append(key)
        return super().get_json(key)


def outputs(keys) -> list[str]:
    return [k for k in keys if k.endswith("/extract.json") or "/samples/" in k]


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


@pytest.mark.parametrize("kept", ["whole", "stale", "missing"])
async def test_resume_gives_the_same_run_with_the_manifest_whole_stale_or_missing(
        stages, store, monkeypatch, kept):
    monkeypatch.setattr(manifest, "FLUSH_ITEMS", 4)  # several segments from a small run
    run_id = f"manifest-{kept}"
    final = await complete_run(store, stages, run_id, limit=10)
    result = store.get_json(layout.result_record(run_id))
    segments = sorted(store.list_keys(layout.manifest_prefix(run_id)))
    assert len(segments) >= 3
    recorded = [entry for key in segments for entry in store.get_json(key)["entries"]]
    assert {entry[1] for entry in recorded if entry[0] == manifest.SAMPLE} == {
        k.split("/")[3] for k in store.list_keys(layout.run_prefix(run_id) + "samples/")}
    for key in {"whole": [], "stale": segments[len(segments) // 2:], "missing": segments}[kept]:
        store.delete(key)
    as_if_crashed_before_the_end(store, run_id)
    stored_outputs = outputs(store.list_keys(layout.run_prefix(run_id)))

    counting = CountingStore(store.client, store.bucket)
    manager = RunManager(counting, GrpcCallers(stages.stage_addresses()))
    await manager.start()
    resumed = await finished(manager, run_id)
    await manager.close()
    assert resumed.state == SUCCEEDED, resumed.message
    assert store.get_json(layout.result_record(run_id)) == result
    assert progress_counts(resumed.progress) == progress_counts(final.progress)
    read = outputs(counting.reads)
    if kept == "whole":
        assert read == []  # every outcome came from the manifest
    elif kept == "stale":
        assert 0 < len(read) < len(stored_outputs)
    else:
        assert sorted(read) == sorted(stored_outputs)  # each output replayed, once
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
    final = await finished(manager, run.id)
    assert final.state == SUCCEEDED
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
