"""A renamed stage (the refine stage, keyed `render` before it took its
service's name): run configs that use the former key are read as the stage
and their mistakes named as written; a run stored before the rename, whose
run record, manifest and checkpoint name the stage `render` and
`STAGE_RENDER`, exports the same dataset and resumes to the same run, with
its checkpoint and with only its manifest. Against the real stage services
(in this process, offline backends) and the real S3 server."""

from __future__ import annotations

import json

import pytest

from mis.v1 import common_pb2
from services.common.store import Store
from services.coordinator import layout
from services.coordinator.callers import GrpcCallers
from services.coordinator.manifest import SAMPLE
from services.coordinator.runconfig import RunConfigError, parse_run_config
from services.coordinator.runs import RunManager
from services.coordinator.stages import PIPELINE, named
from services.coordinator.stages.refine import REFINE
from tests.coordinator.conftest import dataset_signature
from tests.coordinator.test_pipeline import finished
from tests.coordinator.test_scale import (SUCCEEDED, as_if_crashed_before_the_end, complete_run,
                                          every_flush_checkpoints, progress_counts)

__all__ = ["every_flush_checkpoints"]  # the fixture, used by name


def test_the_refine_stage_was_render_and_keeps_its_stored_name():
    assert (REFINE.key, REFINE.stage, REFINE.service) == ("refine", common_pb2.STAGE_REFINE, "t2i-refiner")
    assert named("render") is REFINE and named("refine") is REFINE and named("rendr") is None
    assert common_pb2.STAGE_RENDER == common_pb2.STAGE_REFINE
    assert common_pb2.Stage.Name(common_pb2.STAGE_REFINE) == "STAGE_REFINE"
    # Every stage stores under its key or one it had: a stored name is always one named() reads.
    assert all(named(stage.stored_as) is stage for stage in PIPELINE)
    assert layout.stage_output("r", "s", REFINE.stored_as).endswith("/samples/s/render.json")


@pytest.mark.parametrize("stages", [{"render": {"concurrency": 3}}, [{"stage": "render", "concurrency": 3}],
                                    [{"stage": "STAGE_RENDER", "concurrency": 3}]])
def test_a_config_that_uses_the_former_key_is_read_as_the_stage(stages):
    config = parse_run_config({"seeds": ["s.jsonl"], "stages": stages})
    assert [(s.stage, s.concurrency) for s in config.stages] == [(common_pb2.STAGE_REFINE, 3)]


@pytest.mark.parametrize("stages, key, reason", [
    ({"render": {"concurency": 3}}, "stages.render.concurency", "unknown key"),
    ([{"stage": "render", "batch_size": -1}], "stages.render.batch_size", "must be 1 or more"),
    ({"render": {"options": {"width": "wide"}}}, "stages.render.options.width", "expected an integer"),
    ({"refine": {"concurency": 3}}, "stages.refine.concurency", "unknown key"),
    ({"render": {}, "refine": {}}, "stages.render", "given twice"),
])
def test_a_mistake_under_the_former_key_is_named_as_written(stages, key, reason):
    with pytest.raises(RunConfigError) as caught:
        parse_run_config({"seeds": ["s.jsonl"], "stages": stages})
    assert caught.value.key == key and reason in caught.value.reason


def _former(passed: list) -> list:
    return ["render" if key == REFINE.key else key for key in passed]


def _entries_as_before(entries: list) -> int:
    """Sample entries' stage lists with the former key, in place; how many changed."""
    changed = 0
    for entry in entries:
        if entry and entry[0] == SAMPLE and REFINE.key in entry[5]:
            entry[5] = _former(entry[5])
            changed += 1
    return changed


def as_stored_before_the_rename(store: Store, run_id: str) -> int:
    """Rewrite a stored run the way it was written while the stage was
    `render`: the run record's config says STAGE_RENDER, and manifest and
    checkpoint entries list `render` among a sample's stages (its outputs'
    keys are the same either way). How many entries were rewritten."""
    record = store.get_json(layout.run_record(run_id))
    text = json.dumps(record)
    assert "STAGE_REFINE" in text
    store.put_json(layout.run_record(run_id), json.loads(text.replace('"STAGE_REFINE"', '"STAGE_RENDER"')))
    changed = 0
    for key in store.list_keys(layout.manifest_prefix(run_id)):
        segment = store.get_json(key)
        changed += _entries_as_before(segment["entries"])
        store.put_json(key, segment)
    checkpoint = json.loads(store.get_bytes(layout.checkpoint_record(run_id)))
    for _, entry, samples in checkpoint["open"]:
        changed += _entries_as_before([entry, *samples])
    store.put_json(layout.checkpoint_record(run_id), checkpoint)
    return changed


async def resumed(store: Store, stages, run_id: str) -> object:
    manager = RunManager(store, GrpcCallers(stages.stage_addresses()))
    await manager.start()
    run = await finished(manager, run_id)
    await manager.close()
    return run


@pytest.mark.parametrize("checkpoint", ["kept", "lost"])
async def test_a_run_stored_before_the_rename_exports_and_resumes_the_same(
        stages, store, every_flush_checkpoints, checkpoint):
    run_id = f"before-rename-{checkpoint}"
    final = await complete_run(store, stages, run_id, limit=10)
    signature = dataset_signature(store, run_id)
    result = store.get_json(layout.result_record(run_id))
    assert as_stored_before_the_rename(store, run_id) > 0
    assert dataset_signature(store, run_id) == signature
    as_if_crashed_before_the_end(store, run_id)
    if checkpoint == "lost":
        store.delete(layout.checkpoint_record(run_id))
    run = await resumed(store, stages, run_id)
    assert run.state == SUCCEEDED, run.message
    assert store.get_json(layout.result_record(run_id)) == result
    assert progress_counts(run.progress) == progress_counts(final.progress)
    assert dataset_signature(store, run_id) == signature
