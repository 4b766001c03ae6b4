"""The coordinator and the stage services as real processes over real gRPC,
with the real S3 server: a full run exported and re-imported, SIGKILLs at
random moments, a t2i-refiner replica killed mid-run, and the S3 server
restarted mid-run."""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest

from mis.v1 import common_pb2
from mis.v1 import coordinator_pb2 as pb
from services.common.store import Store
from services.coordinator import layout
from services.coordinator.callers import GrpcCallers
from services.coordinator.config import StageAddresses
from services.coordinator.runs import RunManager
from tests.coordinator.conftest import (SERVICE_ENV, STAGE_SERVICES, address_env, coordinator_stub,
                                        dataset_signature, small_config, stage_done_events,
                                        stored_output_count, wait_finished)
from tests.coordinator.recording import Recording
from tests.support.processes import ServiceUnderTest
from tests.support.waiting import until
from tests.support.watched_s3 import WatchedClient

STAGE_BUCKET = "coordinator-stages"


@pytest.fixture(scope="module")
def services(s3_server, tmp_path_factory):
    """The five stage services as real processes, shared by this module's tests
    (starting a process costs seconds); they write images to their own bucket,
    which every test's coordinator reads through the ImageRefs."""
    root = tmp_path_factory.mktemp("stages")
    env = {"MIS_S3_ENDPOINT": s3_server.endpoint, "MIS_S3_ACCESS_KEY": s3_server.access_key,
           "MIS_S3_SECRET_KEY": s3_server.secret_key, "MIS_S3_BUCKET": STAGE_BUCKET, **SERVICE_ENV}
    started = {name: ServiceUnderTest(name, root / name, env) for name in STAGE_SERVICES}
    with ThreadPoolExecutor(len(started)) as pool:
        list(pool.map(lambda service: service.start(), started.values()))
    yield started
    for service in started.values():
        service.kill()


def stage_addresses(services: dict) -> StageAddresses:
    return StageAddresses(**{name.replace("-", "_"): s.address for name, s in services.items()})


async def reference_run(services: dict, store: Store, config: pb.RunConfig, run_id: str) -> list[tuple]:
    """The same config and run id, uninterrupted, in another bucket."""
    manager = RunManager(store, GrpcCallers(stage_addresses(services)))
    run = await manager.create(config, run_id)
    async for snapshot in manager.watch(run.id, interval=0.1):
        run = snapshot
    await manager.close()
    assert run.state == pb.RUN_STATE_SUCCEEDED and not run.progress.failures, run.message
    return dataset_signature(store, run_id)


@pytest.fixture
def stage_store(store_settings) -> Store:
    """The stage services' bucket: a coordinator that exports reads their
    images, and a service follows references into its own bucket only."""
    import dataclasses
    return Store.from_settings(dataclasses.replace(store_settings, bucket=STAGE_BUCKET))


async def test_full_run_over_grpc_exported_and_reimported(services, start_service, stage_store,
                                                          tmp_path, capsys):
    store = stage_store
    coordinator = start_service("coordinator", {**address_env(services),
                                                "MIS_S3_BUCKET": STAGE_BUCKET})
    channel, stub = coordinator_stub(coordinator.address)
    async with channel:
        created = (await stub.CreateRun(pb.CreateRunRequest(config=small_config(limit=8), run_id="full"))).run
        assert created.id == "full"
        # Creating again with the same id answers the same run.
        assert (await stub.CreateRun(pb.CreateRunRequest(config=small_config(limit=8), run_id="full"))).run.id == "full"
        final = await wait_finished(stub, "full")
        assert final.state == pb.RUN_STATE_SUCCEEDED, final.message
        assert final.progress.samples_finished == final.progress.samples_total > 0
        listed = (await stub.ListRuns(pb.ListRunsRequest())).runs
        assert [r.id for r in listed] == ["full"]
        manifest = (await stub.ExportDataset(pb.ExportDatasetRequest(
            run_id="full", version="v1", local_dir=str(tmp_path / "export")))).manifest
        assert sum(manifest.per_split.values()) == len(store.get_json(layout.result_record("full"))["samples"])
        assert (tmp_path / "export" / "train" / "train.json").is_file()
        reply = await stub.ImportDataset(pb.ImportDatasetRequest(path=str(tmp_path / "export"),
                                                                 name="roundtrip", version="v1"))
        assert reply.imported == sum(manifest.per_split.values())
        assert dict(reply.manifest.per_split) == dict(manifest.per_split)
        # Errors name the field; training without Kubernetes says why.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.GetRun(pb.GetRunRequest(run_id="nope"))
        assert caught.value.code() == grpc.StatusCode.NOT_FOUND
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ImportDataset(pb.ImportDatasetRequest(path=str(tmp_path / "missing")))
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "path" in caught.value.details()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.ListTrainings(pb.ListTrainingsRequest())
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert "MIS_KUBECONFIG" in caught.value.details()
    # The CLI over the same coordinator.
    from services.cli.main import main as mis
    flag = ["--coordinator", coordinator.address]
    assert await asyncio.to_thread(mis, ["runs", "list", *flag]) == 0
    assert await asyncio.to_thread(mis, ["runs", "watch", "full", *flag]) == 0
    assert await asyncio.to_thread(mis, ["runs", "get", "full", *flag]) == 0
    assert await asyncio.to_thread(mis, ["datasets", "export", "full", "--version", "v2", "--browser",
                                         "--out", str(tmp_path / "cli-export"), *flag]) == 0
    assert await asyncio.to_thread(mis, ["runs", "cancel", "nope", *flag]) == 1
    printed = capsys.readouterr()
    assert "full" in printed.out and "succeeded" in printed.out and "refine" in printed.out
    assert "  options refine   width=64 height=64 seed=7; 7 at their defaults" in printed.out.splitlines()
    assert "dataset test v2" in printed.out and (tmp_path / "cli-export" / "browser.html").is_file()
    assert "NOT_FOUND" in printed.err
    assert coordinator.terminate() == 0


async def test_sigkill_at_random_moments_loses_and_repeats_nothing(services, start_service, store,
                                                                 reference_store):
    config = small_config(limit=20)
    # The uninterrupted run first: how many durable outputs the run makes bounds
    # the kill points, so every one lands before the run's end on any machine.
    reference = await reference_run(services, reference_store, config, "crashy")
    total = stored_output_count(reference_store, "crashy")
    assert total > 20
    env = {**address_env(services), "MIS_LOG_LEVEL": "INFO"}
    seed = time.time_ns() % 2**32
    kill_points = sorted(random.Random(seed).sample(range(3, total - 1), 3))
    seed_note = f"kill points {kill_points} of {total} drawn with Random({seed})"
    logs = []
    coordinator = start_service("coordinator", env)
    channel, stub = coordinator_stub(coordinator.address)
    async with channel:
        await stub.CreateRun(pb.CreateRunRequest(config=config, run_id="crashy"))
    for point in kill_points:
        await until(lambda: stored_output_count(store, "crashy") >= point,
                    f"{point} durable outputs ({seed_note})", timeout=120)
        coordinator.kill()  # SIGKILL: no drain, no goodbye
        logs.append(coordinator.log_text())
        coordinator = start_service("coordinator", env)
    channel, stub = coordinator_stub(coordinator.address)
    async with channel:
        final = await wait_finished(stub, "crashy")
    logs.append(coordinator.log_text())
    assert final.state == pb.RUN_STATE_SUCCEEDED and not final.progress.failures, seed_note
    # No finished stage was done twice: each durable output was logged at most once
    # across every incarnation of the coordinator.
    repeated = [k for k, n in Counter(e for text in logs for e in stage_done_events(text)).items() if n > 1]
    assert not repeated, f"{seed_note}: repeated {repeated}"
    # Same samples as an uninterrupted run, none duplicated.
    crashed = dataset_signature(store, "crashy")
    assert len(crashed) == len(set(crashed))
    assert crashed == reference, seed_note


def calls_logged(service, method: str) -> int:
    return sum(1 for line in service.log_text().splitlines()
               if method in line and '"code": "OK"' in line)


async def test_a_replica_killed_mid_run_costs_retries_not_samples(services, start_service, store,
                                                                reference_store):
    with ThreadPoolExecutor(2) as pool:
        extra = list(pool.map(lambda _: start_service("t2i-refiner", {**SERVICE_ENV, "MIS_S3_BUCKET": STAGE_BUCKET}),
                              range(2)))
    replicas = [services["t2i-refiner"], *extra]
    config = small_config(limit=10)
    for stage in config.stages:
        if stage.stage == common_pb2.STAGE_REFINE:
            stage.endpoints[:] = [",".join(r.address for r in replicas)]
            stage.batch_size = 1
    manager = RunManager(store, GrpcCallers(stage_addresses(services)))
    before = [calls_logged(r, "RenderPairBatch") for r in replicas]  # earlier tests' calls
    run = await manager.create(config, "replicas")
    await until(lambda: calls_logged(replicas[1], "RenderPairBatch") >= before[1] + 2,
                "two renders on the replica to kill")
    replicas[1].kill()
    async for snapshot in manager.watch(run.id, interval=0.1):
        run = snapshot
    await manager.close()
    assert run.state == pb.RUN_STATE_SUCCEEDED and not run.progress.failures, run.message
    calls = [calls_logged(r, "RenderPairBatch") - n for r, n in zip(replicas, before)]
    assert all(n > 0 for n in calls), calls
    # The survivors took over the dead replica's share.
    assert calls[0] + calls[2] > calls[1]
    reference_config = small_config(limit=10)
    assert dataset_signature(store, "replicas") == await reference_run(
        services, reference_store, reference_config, "replicas")


async def test_the_store_restarting_mid_run_costs_time_not_samples(services, s3_server, store):
    config = small_config(limit=20)
    for stage in config.stages:
        stage.max_attempts = 8
    watched = WatchedClient(store.client)
    store.client = watched
    callers = Recording(stage_addresses(services))
    # Filtering is held until the store is down, so no sample can finish before it.
    callers.gates["filter"] = asyncio.Event()
    manager = RunManager(store, callers)
    run = await manager.create(config, "store-restart")
    await until(lambda: stored_output_count(store, run.id) > 0, "the run's first durable output")
    # Stop and start the S3 server on the same port and folder, mid-run. On a
    # thread of the test's own: the coordinator's retrying store calls hold the
    # loop's default executor threads while the store is down.
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(1) as own:
        await loop.run_in_executor(own, s3_server.stop)
        assert manager.get(run.id).run.state == pb.RUN_STATE_RUNNING
        callers.gates["filter"].set()
        # Calls and writes meanwhile meet the dead store.
        assert await loop.run_in_executor(own, watched.failed.wait, 60), "no store call failed while it was down"
        await loop.run_in_executor(own, s3_server.start)
    async for snapshot in manager.watch(run.id, interval=0.1):
        run = snapshot
    await manager.close()
    assert run.state == pb.RUN_STATE_SUCCEEDED and not run.progress.failures, run.message
    assert len(store.get_json(layout.result_record(run.id))["samples"]) > 0
    assert run.progress.samples_finished == run.progress.samples_total
