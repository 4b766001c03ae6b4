"""CreateRun checks a run against what its stages serve, asked of the stage
services themselves (GetInfo), before any model is called and before
anything is stored: an option no stage serves is INVALID_ARGUMENT naming
its key; a stage that does not answer is UNAVAILABLE. Real stage servers
(offline backends) and the real coordinator servicer on loopback."""

from __future__ import annotations

import asyncio
import dataclasses

import grpc
import pytest

from mis.v1 import coordinator_pb2, coordinator_pb2_grpc, t2i_refiner_pb2_grpc
from services.common.errors import InvalidArgument, Unavailable
from services.common.s3server import free_port
from services.coordinator import layout
from services.coordinator.runs import RunManager
from services.coordinator.servicer import CoordinatorServicer
from services.coordinator.stages import BY_KEY
from services.t2i_refiner.validation import MAX_SIDE
from tests.coordinator.conftest import small_config
from tests.coordinator.recording import Recording


def with_stage(key: str, **settings) -> dict:
    """small_config's `stages` with `settings` added to one stage."""
    stages = {name: {"concurrency": 2, "batch_size": 2, "max_attempts": 3, "timeout_seconds": 30}
              for name in BY_KEY}
    stages[key].update(settings)
    return {"stages": stages}


def config_with(overrides: dict) -> coordinator_pb2.RunConfig:
    """small_config with `overrides`; `render` set on the message as a client
    may send it, past the YAML parser's checks."""
    config = small_config(**{k: v for k, v in overrides.items() if k != "render"})
    if "render" in overrides:
        config.render.Clear()
        config.render.update(overrides["render"])
    return config


def assert_nothing_happened(callers: Recording, manager: RunManager, store) -> None:
    assert not any(callers.sent.values()), dict(callers.sent)
    assert not manager.runs
    assert not list(store.list_keys(layout.RUNS))


async def serve(manager: RunManager, store):
    server = grpc.aio.server()
    coordinator_pb2_grpc.add_CoordinatorServiceServicer_to_server(
        CoordinatorServicer(manager, store, trainings=None), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


async def test_an_unknown_renderer_is_refused_at_create_run_with_no_stage_called(stages, store):
    # Once accepted: every extract and detoxify call spent, every item failed at refine.
    callers = Recording(stages.stage_addresses())
    manager = RunManager(store, callers)
    server, address = await serve(manager, store)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.CreateRun(coordinator_pb2.CreateRunRequest(
                    config=config_with({"render": {"renderer": "dall-e"}})), timeout=30)
    finally:
        await server.stop(None)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == (
        "config.render.renderer: 'dall-e' is not served by t2i-refiner (serves: offline)")
    assert_nothing_happened(callers, manager, store)


@pytest.mark.parametrize("overrides, key, reason", [
    ({"render": {"width": MAX_SIDE + 16}}, "config.render.width",
     f"{MAX_SIDE + 16} is not a width renderer 'offline' of t2i-refiner draws "
     f"(a multiple of 16, at most {MAX_SIDE})"),
    ({"render": {"height": 100}}, "config.render.height",
     f"100 is not a height renderer 'offline' of t2i-refiner draws (a multiple of 16, at most {MAX_SIDE})"),
    (with_stage("refine", backend="dall-e"), "config.stages.refine.backend",
     "'dall-e' is not served by t2i-refiner (serves: offline)"),
    ({"render": {"reviewer": "gpt-4o"}}, "config.render.reviewer",
     "'gpt-4o' is not served by t2i-refiner (serves: offline)"),
    (with_stage("filter", backend="nope"), "config.stages.filter.backend",
     "'nope' is not served by filter (serves: offline)"),
    (with_stage("extract", backend="openai"), "config.stages.extract.backend",
     "'openai' is not served by extractor (serves: offline)"),
    (with_stage("refine", batch_size=65), "config.stages.refine.batch_size",
     "65 items per call is over the limit of 64 of t2i-refiner"),
    ({"render": {"steps": 201}}, "config.render.steps",
     "201 is over the 200 steps renderer 'offline' of t2i-refiner takes"),
    ({"render": {"guidance_scale": 31.5}}, "config.render.guidance_scale",
     "31.5 is over the 30 renderer 'offline' of t2i-refiner takes"),
    ({"refinement_rounds": 6}, "config.refinement_rounds",
     "6 is over the 5 refinement rounds t2i-refiner takes"),
    ({"render": {"refinement_rounds": 6}}, "config.render.refinement_rounds",
     "6 is over the 5 refinement rounds t2i-refiner takes"),
    ({"render": {"seed": -1}}, "config.render.seed", "must be 0 or more"),
    # Each option within its limit, together over the work one call may ask for.
    ({**with_stage("refine", batch_size=8), "refinement_rounds": 5,
      "render": {"width": MAX_SIDE, "height": MAX_SIDE, "steps": 50}}, "config.stages.refine.batch_size",
     f"8 pairs per call at {MAX_SIDE}x{MAX_SIDE}, 50 steps and 5 refinement rounds is 2.01e+10 "
     "pixel-steps, over the limit of 8.59e+09 per call of t2i-refiner; lower the batch size, "
     "the steps, the size or the rounds"),
    ({"render": {"rendrer": "offline"}}, "config.render.rendrer", None),
    ({"render": {"width": "wide"}}, "config.render.width", None),
])
async def test_create_refuses_what_the_stages_do_not_serve_naming_the_key(stages, store, overrides, key,
                                                                          reason):
    callers = Recording(stages.stage_addresses())
    manager = RunManager(store, callers)
    with pytest.raises(InvalidArgument) as caught:
        await manager.create(config_with(overrides))
    assert caught.value.field == key
    if reason is not None:
        assert caught.value.reason == reason
    assert_nothing_happened(callers, manager, store)


async def test_a_stage_that_does_not_answer_is_unavailable_not_invalid(stages, store):
    gone = dataclasses.replace(stages.stage_addresses(), t2i_refiner=f"127.0.0.1:{free_port()}")
    callers = Recording(gone)
    manager = RunManager(store, callers)
    server, address = await serve(manager, store)
    try:
        async with grpc.aio.insecure_channel(address) as channel:
            stub = coordinator_pb2_grpc.CoordinatorServiceStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.CreateRun(coordinator_pb2.CreateRunRequest(config=small_config()), timeout=30)
    finally:
        await server.stop(None)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "t2i-refiner (stage refine) did not say what it serves" in caught.value.details()
    assert_nothing_happened(callers, manager, store)


def test_the_run_config_parser_names_a_bad_render_option():
    from services.coordinator.runconfig import RunConfigError
    with pytest.raises(RunConfigError) as caught:
        small_config(render={"width": 64, "rendrer": "offline"})
    assert caught.value.key == "render.rendrer"
    assert caught.value.reason.startswith("unknown key (expected one of renderer, reviewer, width")


async def test_retry_failed_refuses_a_run_its_stages_cannot_serve(stages, store):
    # A run recorded before these checks, whose every item failed at refine.
    from google.protobuf import json_format
    run = coordinator_pb2.Run(id="old-dall-e", config=config_with({"render": {"renderer": "dall-e"}}),
                              state=coordinator_pb2.RUN_STATE_SUCCEEDED)
    store.put_json(layout.run_record(run.id), json_format.MessageToDict(run, preserving_proto_field_name=True))
    store.put_json(layout.failure_record(run.id, "sample-1"), {"reason": "render: dall-e"})
    callers = Recording(stages.stage_addresses())
    manager = RunManager(store, callers, resume=False)
    with pytest.raises(InvalidArgument) as caught:
        await manager.retry_failed(run.id)
    assert caught.value.field == "config.render.renderer"
    assert not any(callers.sent.values()) and not manager.runs
    # The failures are kept, and the record still says how the run ended.
    assert list(store.list_keys(layout.failures_prefix(run.id)))
    assert store.get_json(layout.run_record(run.id))["state"] == "RUN_STATE_SUCCEEDED"


async def test_a_replica_down_leaves_the_check_to_those_that_answer(stages, store):
    live = stages.addresses["t2i-refiner"]
    dead = f"127.0.0.1:{free_port()}"
    callers = Recording(dataclasses.replace(stages.stage_addresses(), t2i_refiner=f"{live},{dead}"))
    served = await callers.describe(small_config())
    assert [address for address, _ in served["refine"]] == [live]
    assert served["refine"][0][1].service == "t2i-refiner"
    assert set(served) == {"extract", "detoxify", "refine", "filter", "annotate"}  # no real target


async def test_replicas_that_differ_are_each_checked_and_named(stages, store_env, store):
    # A second t2i-refiner replica configured for batches of one.
    from tests.coordinator.conftest import SERVICE_ENV
    addresses = stages.stage_addresses()
    small = await stages.start("t2i-refiner", {**SERVICE_ENV, **store_env, "MIS_MAX_BATCH_ITEMS": "1"})
    callers = Recording(dataclasses.replace(addresses, t2i_refiner=f"{addresses.t2i_refiner},{small}"))
    manager = RunManager(store, callers)
    with pytest.raises(InvalidArgument) as caught:
        await manager.create(small_config())
    assert caught.value.field == "config.stages.refine.batch_size"
    assert caught.value.reason == f"2 items per call is over the limit of 1 of t2i-refiner at {small}"
    assert_nothing_happened(callers, manager, store)


async def t2i_server(servicer) -> tuple[grpc.aio.Server, str]:
    server = grpc.aio.server()
    t2i_refiner_pb2_grpc.add_T2IRefinerServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    return server, f"127.0.0.1:{port}"


async def test_a_replica_that_hangs_in_get_info_is_unavailable_after_the_deadline(stages, store):
    class Hanging(t2i_refiner_pb2_grpc.T2IRefinerServiceServicer):
        async def GetInfo(self, request, context):
            await asyncio.Event().wait()  # never answers: the caller's deadline ends it

    server, hanging = await t2i_server(Hanging())
    try:
        callers = Recording(dataclasses.replace(stages.stage_addresses(), t2i_refiner=hanging))
        callers.info_timeout_seconds = 0.5
        with pytest.raises(Unavailable) as caught:
            await callers.describe(small_config())
    finally:
        await server.stop(None)
    assert f"t2i-refiner (stage refine) did not say what it serves ({hanging}: DEADLINE_EXCEEDED" in str(
        caught.value)


async def test_a_service_without_get_info_leaves_its_stage_unchecked(stages, store):
    server, older = await t2i_server(t2i_refiner_pb2_grpc.T2IRefinerServiceServicer())
    try:
        callers = Recording(dataclasses.replace(stages.stage_addresses(), t2i_refiner=older))
        served = await callers.describe(small_config())
    finally:
        await server.stop(None)
    assert served["refine"] == []
    assert [address for address, _ in served["filter"]] == [stages.addresses["filter"]]
