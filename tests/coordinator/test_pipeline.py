"""The pipeline engine and run manager against the real stage services (their
servers in this process, offline backends) and the real S3 server: complete
runs, resume without repeating finished stages, retries, recorded failures and
retry-by-command, split targets, and live progress."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from mis.v1 import common_pb2, coordinator_pb2
from services.coordinator import layout
from services.common.metrics import Metrics
from services.coordinator.metrics import CoordinatorMetrics
from services.coordinator.runs import RunManager
from services.coordinator.stages import BY_KEY, StageCallError, TransientStageError
from tests.coordinator.conftest import dataset_signature, small_config, stored_outputs
from tests.coordinator.recording import Recording

SUCCEEDED = coordinator_pb2.RUN_STATE_SUCCEEDED


class WorkerThreads:
    """The loop's default executor, where the store's blocking I/O runs, owned
    by the test so it can wait until every call handed to it has returned."""

    def __init__(self) -> None:
        self.executor = ThreadPoolExecutor(thread_name_prefix="store-io")
        asyncio.get_running_loop().set_default_executor(self.executor)

    async def settle(self) -> None:
        done, self.executor = self.executor, ThreadPoolExecutor(thread_name_prefix="store-io")
        asyncio.get_running_loop().set_default_executor(self.executor)
        await asyncio.to_thread(done.shutdown, wait=True)


async def finished(manager: RunManager, run_id: str, timeout: float = 90.0) -> coordinator_pb2.Run:
    async def follow():
        last = None
        async for run in manager.watch(run_id, interval=0.05):
            last = run
        return last
    return await asyncio.wait_for(follow(), timeout)


async def test_run_completes_every_split_with_progress(stages, store):
    callers = Recording(stages.stage_addresses())
    # Hold the CoT labels of train samples until a snapshot shows the test
    # samples finished and the train ones not: progress must move mid-run.
    callers.gates["annotate"] = asyncio.Event()
    registry = Metrics()
    manager = RunManager(store, callers, metrics=CoordinatorMetrics(registry))
    await manager.start()
    run = await manager.create(small_config(limit=12), "complete")
    snapshots = []
    async for snapshot in manager.watch(run.id, interval=0.05):
        snapshots.append(snapshot)
        finished_now = snapshot.progress.samples_finished
        if 0 < finished_now < snapshot.progress.samples_total:
            callers.gates["annotate"].set()
    final = snapshots[-1]
    assert final.state == SUCCEEDED, final.message
    progress = final.progress
    assert progress.samples_total > 0 and progress.samples_finished == progress.samples_total
    assert not progress.failures
    result = store.get_json(layout.result_record(run.id))
    assert sum(result["per_split"].values()) == len(result["samples"]) > 0
    assert set(result["per_split"]) <= {"train", "easy", "hard"}
    assert progress.seeds_total == 12
    assert progress.near_duplicates == len(result["duplicates"])
    assert progress.tokens.prompt_tokens > 0
    # Progress was streamed while the run moved, not only at its end.
    assert callers.gates["annotate"].is_set()
    assert any(0 < s.progress.samples_finished < progress.samples_total for s in snapshots)
    # Every train sample was annotated; no test sample was.
    train = {s["id"] for s in result["samples"] if s["split"] == "train"}
    assert set(callers.sent["annotate"]) >= train
    test_ids = {s["id"] for s in result["samples"] if s["split"] != "train"}
    assert not test_ids & set(callers.sent["annotate"])
    # The metrics saw the same: every sample through the filter, the train ones annotated.
    value = registry.registry.get_sample_value
    assert value("mis_coordinator_items_total", {"stage": "filter", "outcome": "done"}) == progress.samples_total
    assert value("mis_coordinator_stage_calls_total", {"stage": "refine", "outcome": "ok"}) > 0
    await manager.close()


async def test_the_run_asks_the_annotator_to_use_the_judge_when_configured(stages, store):
    callers = Recording(stages.stage_addresses())
    manager = RunManager(store, callers)
    await manager.start()
    run = await manager.create(small_config(limit=4, use_judge=True, max_cot_regenerations=1),
                               "judged")
    final = await finished(manager, run.id)
    assert final.state == SUCCEEDED, final.message
    annotate = callers.requests["annotate"]
    assert annotate and all(r.options.use_judge and r.options.max_regenerations == 1
                            for r in annotate)
    await manager.close()


async def test_resume_repeats_no_finished_stage(stages, store, reference_store):
    reference = RunManager(reference_store, Recording(stages.stage_addresses()))
    baseline = await reference.create(small_config(limit=8), "interrupted")
    assert (await finished(reference, baseline.id)).state == SUCCEEDED

    threads = WorkerThreads()
    first = Recording(stages.stage_addresses())
    manager = RunManager(store, first)
    await manager.start()
    run = await manager.create(small_config(limit=8), "interrupted")
    # Stop the coordinator's work mid-run, as a crash would (the state stays RUNNING).
    await first.wait_for(lambda: len(first.sent["refine"]) >= 3)
    await manager.close()
    # A store write already handed to a worker thread still lands (a real crash
    # would lose it, which resume handles the same way): wait for those threads.
    await threads.settle()
    stored = set(stored_outputs(store, run.id))
    assert store.get_json(layout.run_record(run.id))["state"] == "RUN_STATE_RUNNING"

    second = Recording(stages.stage_addresses())
    resumed = RunManager(store, second)
    await resumed.start()
    assert (await finished(resumed, run.id)).state == SUCCEEDED
    for stage, ids in second.sent.items():
        for item in ids:
            key = (layout.extract_output(run.id, "") if stage == "extract"
                   else layout.stage_output(run.id, item, BY_KEY[stage].stored_as))
            if stage != "extract":
                assert key not in stored, f"{stage} of {item} was finished and was called again"
    extracted_before = {k for k in stored if k.endswith("/extract.json")}
    assert len(second.sent["extract"]) + len(extracted_before) == 8
    # The resumed run produced exactly what an uninterrupted one did.
    assert dataset_signature(store, run.id) == dataset_signature(reference_store, baseline.id)
    await resumed.close()
    await reference.close()


async def test_transient_faults_cost_retries_not_samples(stages, store, reference_store):
    manager = RunManager(reference_store, Recording(stages.stage_addresses()))
    baseline = await manager.create(small_config(limit=5), "flaky")
    assert (await finished(manager, baseline.id)).state == SUCCEEDED

    faulty = Recording(stages.stage_addresses())
    budget = {stage: 2 for stage in ("extract", "detoxify", "refine", "filter", "annotate")}

    def flaky(stage):
        def fault(ids):
            if budget[stage] > 0:
                budget[stage] -= 1
                raise TransientStageError(f"{stage} replica went away")
        return fault
    faulty.faults = {stage: flaky(stage) for stage in budget}
    other = RunManager(store, faulty)
    run = await other.create(small_config(limit=5), "flaky")
    final = await finished(other, run.id)
    assert final.state == SUCCEEDED and not final.progress.failures
    assert all(left == 0 for left in budget.values())
    assert dataset_signature(store, run.id) == dataset_signature(reference_store, baseline.id)
    await manager.close()
    await other.close()


async def test_exhausted_retries_are_recorded_and_retried_by_command(stages, store):
    callers = Recording(stages.stage_addresses())
    broken = {"on": True}

    def fault(ids):
        if broken["on"]:
            raise TransientStageError("t2i-refiner: UNAVAILABLE: no GPU left")
    callers.faults["refine"] = fault
    manager = RunManager(store, callers)
    run = await manager.create(small_config(limit=3), "retry-me")
    final = await finished(manager, run.id)
    assert final.state == SUCCEEDED
    failures = list(final.progress.failures)
    assert failures and all(f.stage == common_pb2.STAGE_REFINE for f in failures)
    assert all("no GPU left" in f.reason and f.attempts == 3 for f in failures)
    assert "retry-failed" in final.message
    assert len(store.get_json(layout.result_record(run.id))["samples"]) == 0

    broken["on"] = False
    assert await manager.retry_failed(run.id) == len(failures)
    again = await finished(manager, run.id)
    assert again.state == SUCCEEDED and not again.progress.failures
    assert len(store.get_json(layout.result_record(run.id))["samples"]) > 0
    assert not list(store.list_keys(layout.failures_prefix(run.id)))
    await manager.close()


async def test_a_refused_call_fails_its_items_without_retries(stages, store):
    callers = Recording(stages.stage_addresses())

    def refuse(ids):
        raise StageCallError("filter: INVALID_ARGUMENT: items: bad batch")
    callers.faults["filter"] = refuse
    manager = RunManager(store, callers)
    run = await manager.create(small_config(limit=2), "refused")
    final = await finished(manager, run.id)
    assert final.progress.failures
    assert all(f.attempts == 1 and f.stage == common_pb2.STAGE_FILTER for f in final.progress.failures)
    await manager.close()


async def test_targets_stop_feeding_new_seeds(stages, store):
    callers = Recording(stages.stage_addresses())
    manager = RunManager(store, callers)
    config = small_config(limit=36, targets={"train": 2})
    config.stages[0].concurrency = 1  # extract one batch at a time so the target can stop it
    run = await manager.create(config, "targets")
    final = await finished(manager, run.id)
    assert final.state == SUCCEEDED
    result = store.get_json(layout.result_record(run.id))
    assert result["per_split"].get("train") == 2
    assert len(set(callers.sent["extract"])) < 36
    await manager.close()


async def test_cancel_stops_a_run_and_it_is_not_resumed(stages, store):
    callers = Recording(stages.stage_addresses())
    manager = RunManager(store, callers)
    # Renders are held, so the run cannot finish before the cancel reaches it.
    callers.gates["refine"] = asyncio.Event()
    run = await manager.create(small_config(limit=12), "cancel-me")
    await callers.wait_for(lambda: callers.sent["refine"])
    cancelled = await manager.cancel(run.id)
    assert cancelled.state == coordinator_pb2.RUN_STATE_CANCELLED
    callers.gates["refine"].set()
    assert not list(store.list_keys(layout.result_record(run.id)))
    later = RunManager(store, Recording(stages.stage_addresses()))
    await later.start()
    # Not resumed: it is not in the table of runs being driven, and the store says cancelled.
    assert run.id not in later.runs
    assert (await later.find(run.id)).run.state == coordinator_pb2.RUN_STATE_CANCELLED
    await later.close()


@pytest.mark.parametrize("raw, key", [
    ({"seeds": [{"uri": "/nonexistent/seeds.jsonl"}]}, "config.seeds[0].uri"),
    ({"seeds": [{"uri": "s3://elsewhere/seeds.jsonl"}]}, "config.seeds[0].uri"),
    ({"seeds": [{"uri": "x"}], "taxonomy": "/nonexistent/taxonomy.yaml"}, "config.taxonomy"),
    ({"seeds": [{"uri": "x", "limit": -1}]}, "config.seeds[0].limit"),
])
async def test_create_rejects_bad_configs_naming_the_key(stages, store, raw, key):
    from google.protobuf import json_format

    from services.common.errors import InvalidArgument
    manager = RunManager(store, Recording(stages.stage_addresses()))
    config = json_format.ParseDict(raw, coordinator_pb2.RunConfig())
    with pytest.raises(InvalidArgument) as caught:
        await manager.create(config)
    assert caught.value.field == key


async def test_an_unexpected_error_fails_the_run_and_retry_resumes_it(stages, store):
    callers = Recording(stages.stage_addresses())
    broken = {"on": True}

    def bug(ids):
        if broken["on"]:
            raise RuntimeError("the coordinator tripped over its own feet")
    callers.faults["filter"] = bug
    manager = RunManager(store, callers)
    run = await manager.create(small_config(limit=2), "tripped")
    final = await finished(manager, run.id)
    assert final.state == coordinator_pb2.RUN_STATE_FAILED
    assert final.message.startswith("RuntimeError: the coordinator tripped over its own feet")
    broken["on"] = False
    assert await manager.retry_failed(run.id) == 0
    assert (await finished(manager, run.id)).state == SUCCEEDED
    # The stages finished before the error were not called again.
    assert len(callers.sent["extract"]) == 2
    await manager.close()
