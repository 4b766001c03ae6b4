"""The real split (MIS-real) end to end: a run with a `real` target on the
offline stages, real gRPC servers on loopback and the real S3 server. The
retriever is a branch of the filter: it takes a fork of every hard sample,
swaps its drawn pair for photos of the bundled corpus, and the run keeps the
first `real` of them; the export writes them as mis_real.json and
real_image/, with where every photo came from."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import logging

import pyarrow.parquet as pq
import pytest

from mis.v1 import common_pb2, coordinator_pb2
from services.common.errors import InvalidArgument
from services.coordinator import layout
from services.coordinator.callers import GrpcCallers
from services.coordinator.card import parquet_path
from services.coordinator.export import export_run
from services.coordinator.pipeline import PipelineRun, RunInputs
from services.coordinator.progress import ProgressTracker
from services.coordinator.runs import RunManager
from services.coordinator.stages.refine import REFINE
from services.coordinator.stages.retrieve import RETRIEVE
from tests.coordinator.conftest import small_config, stored_results
from tests.coordinator.recording import Recording
from tests.coordinator.test_pipeline import WorkerThreads, finished

REAL = 3


async def finish(manager: RunManager, config, run_id: str) -> coordinator_pb2.Run:
    run = await manager.create(config, run_id)
    async for snapshot in manager.watch(run.id, interval=0.05):
        run = snapshot
    assert run.state == coordinator_pb2.RUN_STATE_SUCCEEDED, run.message
    return run


@pytest.fixture
async def real_run(stages, store):
    manager = RunManager(store, GrpcCallers(stages.stage_addresses()))
    run = await finish(manager, small_config(limit=12, targets={"real": REAL}), "real-split")
    yield run
    await manager.close()


async def test_a_real_target_makes_forks_of_hard_samples_with_retrieved_photos(real_run, store):
    result = store.get_json(layout.result_record(real_run.id))
    kept = {entry["id"]: entry for entry in result["samples"]}
    real = [entry for entry in result["samples"] if entry["split"] == "real"]
    assert len(real) == REAL
    outputs = stored_results(store, real_run.id)
    for entry in real:
        origin = entry["id"].removesuffix(f"-{RETRIEVE.key}")
        assert entry["id"] == layout.fork_id(origin, RETRIEVE.key)
        assert kept[origin]["split"] == "hard"  # the sample itself stays in its split
        drawn = outputs[layout.stage_output(real_run.id, origin, REFINE.stored_as)]["pair"]
        retrieved = outputs[layout.stage_output(real_run.id, entry["id"], RETRIEVE.key)]
        assert retrieved["corpus"] == "bundled:bundled-corpus-v1"
        for number in (1, 2):
            photo = retrieved[f"photo{number}"]
            assert photo["photo"]["item_id"].startswith("bundled-corpus-v1/")
            assert photo["check"]["shows_object"] is True
            assert retrieved["pair"][f"image{number}"]["sha256"] != drawn[f"image{number}"]["sha256"]
        assert retrieved["classified"]["split"] == "SPLIT_HARD"
    # Every hard sample was forked; the ones past the target are listed as such.
    hard = [entry for entry in result["samples"] if entry["split"] == "hard"]
    forked = [e for e in hard if layout.stage_output(real_run.id, layout.fork_id(e["id"], RETRIEVE.key),
                                                     RETRIEVE.key) in outputs]
    assert len(forked) == len(hard) > REAL
    assert len(result["over_target"]) >= len(hard) - REAL


async def test_the_real_split_exports_as_mis_real_with_photo_provenance(real_run, store, tmp_path):
    folder = tmp_path / "dataset"
    manifest = await asyncio.to_thread(export_run, store, real_run, "v1", str(folder))
    assert manifest.per_split["real"] == REAL
    records = json.loads((folder / "mis_real.json").read_text())
    assert [r["id"] for r in records] == list(range(1, REAL + 1))
    samples = {json.loads(line)["id"]: json.loads(line)
               for line in (folder / "samples.jsonl").read_text().splitlines()}
    real = [s for s in samples.values() if s["split"] == "real"]
    assert len(real) == REAL
    outputs = stored_results(store, real_run.id)
    for number, (record, sample) in enumerate(zip(records, real), 1):
        assert record["image_path1"] == f"real_image/{number}/object1.png"
        assert record["question"] == sample["instruction"]
        photos = sample["provenance"]["photos"]
        assert [p["object"] for p in photos] == [1, 2]
        for image_number, photo in zip((1, 2), photos):
            written = (folder / record[f"image_path{image_number}"]).read_bytes()
            stored = outputs[layout.stage_output(real_run.id, sample["id"], RETRIEVE.key)]
            assert hashlib.sha256(written).hexdigest() == stored["pair"][f"image{image_number}"]["sha256"]
            assert photo["corpus"] == "bundled:bundled-corpus-v1" and photo["index"] == "bundled"
            assert photo["item_id"] == stored[f"photo{image_number}"]["photo"]["item_id"]
            assert 0 < photo["score"] <= 1 and photo["rank"] >= 1 and photo["shows_object"]
        assert sample["prompt1"] == photos[0]["caption"]
        assert {"retrieve", "filter"} <= {m["stage"] for m in sample["provenance"]["models"]}
    # The Parquet split carries the same photos in its nested provenance.
    table = pq.read_table(folder / parquet_path("real")).to_pylist()
    assert [row["id"] for row in table] == [sample["id"] for sample in real]
    assert [[p["item_id"] for p in row["provenance"]["photos"]] for row in table] == [
        [p["item_id"] for p in sample["provenance"]["photos"]] for sample in real]


@pytest.mark.parametrize(("targets", "per_split", "reached"), [
    ({"real": 2}, {"real": 5}, False),              # forks are not seeds: a real target never stops them
    ({"easy": 1, "real": 2}, {"easy": 1}, True),    # the other targets still do
    ({"easy": 2, "real": 2}, {"easy": 1, "real": 9}, False),
])
async def test_a_real_target_caps_the_split_but_never_stops_the_seeds(targets, per_split, reached):
    config = small_config(limit=1, targets=targets)
    tracker = ProgressTracker()
    tracker.per_split.update(per_split)
    run = PipelineRun("r", config, RunInputs([], common_pb2.Taxonomy()), {}, None, tracker)
    assert run.targets_reached() is reached


async def test_a_run_without_a_real_target_needs_no_retriever(stages, store):
    without = dataclasses.replace(stages.stage_addresses(), retriever="")
    manager = RunManager(store, GrpcCallers(without))
    try:
        run = await finish(manager, small_config(limit=3), "no-real")
        result = store.get_json(layout.result_record(run.id))
        assert "real" not in result["per_split"]
        with pytest.raises(InvalidArgument, match="config.stages.retrieve.endpoints.*MIS_RETRIEVER_ADDRESS"):
            await manager.create(small_config(limit=3, targets={"real": 1}), "wants-real")
    finally:
        await manager.close()


class RetrievalStored(logging.Handler):
    """Sets `event` when the coordinator logs a durable retrieve output."""

    def __init__(self) -> None:
        super().__init__()
        self.event = asyncio.Event()
        self.loop = asyncio.get_running_loop()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "stage outputs stored" and any(
                label.endswith(f":{RETRIEVE.key}") for label in record.outputs):
            self.loop.call_soon_threadsafe(self.event.set)


def real_outcome(store, run_id: str) -> tuple[list, dict]:
    """What a run made of its real split: kept samples and each fork's photos."""
    result = store.get_json(layout.result_record(run_id))
    outputs = stored_results(store, run_id)
    photos = {}
    for entry in result["samples"]:
        if entry["split"] == "real":
            stored = outputs[layout.stage_output(run_id, entry["id"], RETRIEVE.key)]
            photos[entry["id"]] = (stored["photo1"]["photo"]["item_id"], stored["photo2"]["photo"]["item_id"])
    return [(e["id"], e["split"]) for e in result["samples"]], photos


async def test_resume_in_the_middle_of_the_retrieve_stage_repeats_no_finished_retrieval(
        stages, store, reference_store):
    config = small_config(limit=12, targets={"real": REAL})
    reference = RunManager(reference_store, GrpcCallers(stages.stage_addresses()))
    baseline = await reference.create(config, "real-interrupted")
    assert (await finished(reference, baseline.id)).state == coordinator_pb2.RUN_STATE_SUCCEEDED

    threads = WorkerThreads()
    first = Recording(stages.stage_addresses())
    # The first retrieve call goes through; every later one is held, so the
    # stage is mid-way when the coordinator stops.
    first.faults[RETRIEVE.key] = lambda ids: (first.gates.setdefault(RETRIEVE.key, asyncio.Event())
                                              if first.sent[RETRIEVE.key] else None)
    stored_retrieval = RetrievalStored()
    pipeline_log = logging.getLogger("mis.coordinator.outputs")
    level = pipeline_log.level
    pipeline_log.setLevel(logging.INFO)
    pipeline_log.addHandler(stored_retrieval)
    manager = RunManager(store, first)
    await manager.start()
    run = await manager.create(config, "real-interrupted")
    try:
        await asyncio.wait_for(stored_retrieval.event.wait(), 60)
    finally:
        pipeline_log.removeHandler(stored_retrieval)
        pipeline_log.setLevel(level)
    # Stop the coordinator's work, as a crash would (the held calls never return).
    await manager.close()
    await threads.settle()
    stored = set(stored_results(store, run.id))
    retrieved_before = {key for key in stored if key.endswith(f"/{RETRIEVE.key}.json")}
    assert retrieved_before, "no retrieval had finished before the interruption"

    second = Recording(stages.stage_addresses())
    resumed = RunManager(store, second)
    await resumed.start()
    assert (await finished(resumed, run.id)).state == coordinator_pb2.RUN_STATE_SUCCEEDED
    again = {layout.stage_output(run.id, item, RETRIEVE.key) for item in second.sent[RETRIEVE.key]}
    assert again, "every retrieval had finished before the interruption"
    assert not again & retrieved_before, "a finished retrieval was asked for again"
    assert real_outcome(store, run.id) == real_outcome(reference_store, baseline.id)
    await resumed.close()
    await reference.close()
