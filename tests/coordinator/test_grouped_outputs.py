"""Stage outputs stored in groups (outputs.py), against the real stage
services (in this process, offline backends) and the real S3 server: a run
stores far fewer objects than outputs, each output once; and a run stored
the way runs were before groups (one object per output, segments and
checkpoint that name no groups) still resumes to the same run and exports
the same dataset, as does a run that stored its results as JSON; a
checkpoint made while a group is being written has the
resume list that group."""

from __future__ import annotations

import asyncio
import json

from google.protobuf import json_format

from services.common.store import AsyncStore, Store
from services.coordinator import layout
from services.coordinator.callers import GrpcCallers
from services.coordinator.outputs import GroupedWriter, group_keys
from services.coordinator.runs import RunManager
from services.coordinator.stages import named
from services.coordinator.stages.base import RESULT_JSON, RESULT_MESSAGE
from tests.coordinator.conftest import dataset_signature, stored_outputs
from tests.coordinator.test_pipeline import finished
from tests.coordinator.test_scale import (SUCCEEDED, CountingStore, as_if_crashed_before_the_end,
                                          complete_run, every_flush_checkpoints, progress_counts)

__all__ = ["every_flush_checkpoints"]  # the fixture, used by name


def groups_of(store: Store, run_id: str) -> list[str]:
    return sorted(group_keys(run_id, store.list_keys(layout.outputs_prefix(run_id))))


async def test_a_run_stores_its_outputs_in_groups_each_output_once(stages, store):
    await complete_run(store, stages, "grouped", limit=10)
    groups = groups_of(store, "grouped")
    keys = [key for group in groups for key, _, _ in store.get_json(group)["outputs"]]
    assert len(keys) == len(set(keys)), "an output was stored twice"
    assert len(groups) < len(keys) / 2  # the saving: objects written, not outputs
    # No output went to a key of its own.
    assert not [k for k in store.list_keys(layout.run_prefix("grouped")) if "/samples/" in k or "/seeds/" in k]
    # Each group names the seed of every output in it.
    extracts = {key: value for group in groups for key, _, value in store.get_json(group)["outputs"]
                if key.endswith("/extract.json")}
    for group in groups:
        for key, seed_index, value in store.get_json(group)["outputs"]:
            if key in extracts:
                assert seed_index == value["seed_index"]


def as_stored_before_groups(store: Store, run_id: str) -> None:
    """Rewrite a stored run the way runs were stored before outputs were
    grouped: every output its own object, no group, and segments and a
    checkpoint that say nothing about groups."""
    for key, value in stored_outputs(store, run_id).items():
        store.put_json(key, value)
    for group in groups_of(store, run_id):
        store.delete(group)
    for segment in store.list_keys(layout.manifest_prefix(run_id)):
        store.put_json(segment, {"entries": store.get_json(segment)["entries"]})
    checkpoint = json.loads(store.get_bytes(layout.checkpoint_record(run_id)))
    for name in ("groups", "groups_from"):
        checkpoint.pop(name)
    store.put_json(layout.checkpoint_record(run_id), checkpoint)


def with_results_as_json(store: Store, run_id: str) -> int:
    """Rewrite every stored output the way outputs were stored before results
    were stored as messages: json_format's JSON object under `result`.
    Returns how many outputs were rewritten."""
    rewritten = 0
    for group in groups_of(store, run_id):
        outputs = []
        for key, seed_index, stored in store.get_json(group)["outputs"]:
            stage = named(key.rsplit("/", 1)[-1].removesuffix(".json"))
            result = stage.result_of(stored)
            stored = {name: value for name, value in stored.items() if name != RESULT_MESSAGE}
            stored[RESULT_JSON] = json_format.MessageToDict(result, preserving_proto_field_name=True)
            outputs.append([key, seed_index, stored])
            rewritten += 1
        store.put_json(group, {**store.get_json(group), "outputs": outputs})
    return rewritten


async def resumes_the_same(store: Store, stages, run_id: str, final, replayed: str) -> None:
    """A crash near the end, with half the manifest and the checkpoint lost:
    the resume replays stored outputs (reading `replayed` keys), and the run
    is the same, down to its exported dataset."""
    result = store.get_json(layout.result_record(run_id))
    signature = dataset_signature(store, run_id)
    as_if_crashed_before_the_end(store, run_id)
    segments = sorted(store.list_keys(layout.manifest_prefix(run_id)))
    for key in segments[len(segments) // 2:]:
        store.delete(key)
    store.delete(layout.checkpoint_record(run_id))
    counting = CountingStore(store.client, store.bucket)
    manager = RunManager(counting, GrpcCallers(stages.stage_addresses()))
    await manager.start()
    resumed = await finished(manager, run_id)
    await manager.close()
    assert resumed.state == SUCCEEDED, resumed.message
    assert [key for key in counting.reads if replayed in key], "no output was replayed"
    assert store.get_json(layout.result_record(run_id)) == result
    assert progress_counts(resumed.progress) == progress_counts(final.progress)
    assert dataset_signature(store, run_id) == signature


async def test_a_run_stored_one_object_per_output_resumes_and_exports_the_same(
        stages, store, every_flush_checkpoints):
    run_id = "before-groups"
    final = await complete_run(store, stages, run_id, limit=10)
    signature = dataset_signature(store, run_id)
    as_stored_before_groups(store, run_id)
    assert not groups_of(store, run_id)
    # The export and the review read outputs stored one per key.
    assert dataset_signature(store, run_id) == signature
    await resumes_the_same(store, stages, run_id, final, replayed="/samples/")


async def test_a_run_that_stored_results_as_json_resumes_and_exports_the_same(
        stages, store, every_flush_checkpoints):
    run_id = "results-as-json"
    final = await complete_run(store, stages, run_id, limit=10)
    signature = dataset_signature(store, run_id)
    assert with_results_as_json(store, run_id) > 0
    assert not [stored for group in groups_of(store, run_id)
                for _, _, stored in store.get_json(group)["outputs"] if RESULT_MESSAGE in stored]
    assert dataset_signature(store, run_id) == signature
    await resumes_the_same(store, stages, run_id, final, replayed=layout.outputs_prefix(run_id))


async def test_a_group_being_written_is_listed_by_a_resume_from_now_until_it_is_pinned(store):
    """What a checkpoint made while a group is in the air says: list from that
    group on (its seeds are not pinned until it is durable), then, once it
    is, the group itself for as long as its seed is not covered."""
    entered, release = asyncio.Event(), asyncio.Event()
    durable = AsyncStore(store)

    async def held_write(key: str, value) -> None:
        entered.set()
        await release.wait()  # the store is slow: the group stays in the air
        await durable.put_json(key, value)

    writer = GroupedWriter("held", held_write, first_group=0, linger_seconds=0.0)
    running = asyncio.create_task(writer.run())
    try:
        puts = [asyncio.create_task(writer.put(f"runs/held/samples/s{n}/render.json", 7, {"n": n}, f"s{n}:render"))
                for n in range(3)]
        await entered.wait()
        assert writer.next_group == 1 and not any(put.done() for put in puts)
        assert writer.listed_from() == 0 and writer.needed(lambda index: True) == []
        release.set()
        assert await asyncio.gather(*puts) == [0, 0, 0]
        assert store.get_json(layout.output_group("held", 0))["outputs"][0] == [
            "runs/held/samples/s0/render.json", 7, {"n": 0}]
        assert writer.listed_from() == 1
        assert writer.needed(lambda index: True) == [0]   # seed 7 not covered: its group is read
        assert writer.needed(lambda index: False) == []   # covered: never again
        assert writer.pins == {}
    finally:
        running.cancel()
