"""Fixtures of the coordinator tests: the five stage services with their
offline backends, in this process (real gRPC servers on loopback, fast) or as
real processes, and helpers to drive and compare runs."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import grpc
import pytest
from google.protobuf import json_format

from mis.v1 import coordinator_pb2, coordinator_pb2_grpc
from services.common.store import Store
from services.coordinator import layout
from services.coordinator.outputs import StoredOutputs, group_keys
from tests.support.inprocess import STAGE_SERVICES, InProcessStages
from services.coordinator.runconfig import load_run_config, parse_run_config
from services.coordinator.stages import BY_KEY, PIPELINE, named
from services.coordinator.stages.detoxify import DETOXIFY

ROOT = Path(__file__).resolve().parents[2]
DEMO_SEEDS = ROOT / "services" / "coordinator" / "data" / "demo-seeds.jsonl"
# Small images keep the offline renderer quick.
SERVICE_ENV = {"MIS_T2I_WIDTH": "64", "MIS_T2I_HEIGHT": "64"}


def small_config(limit: int = 6, **overrides) -> coordinator_pb2.RunConfig:
    """A run over the first `limit` demo seeds, with quick retries."""
    raw = {"name": "test", "seeds": [{"uri": str(DEMO_SEEDS), "format": "jsonl", "limit": limit}],
           "queries_per_seed": 2, "render": {"width": 64, "height": 64, "seed": 7},
           "stages": {key: {"concurrency": 2, "batch_size": 2, "max_attempts": 3, "timeout_seconds": 30}
                      for key in BY_KEY}}
    raw.update(overrides)
    return parse_run_config(raw)


@pytest.fixture
async def stages(store_env) -> InProcessStages:
    started = await InProcessStages().start_all({**SERVICE_ENV, **store_env})
    yield started
    await started.stop()


@pytest.fixture
def reference_store(store_settings) -> Store:
    """A second bucket, for an uninterrupted run under the same run id: sample
    ids (and so the offline renderer's drawings) derive from the run id."""
    import dataclasses
    other = Store.from_settings(dataclasses.replace(store_settings, bucket=store_settings.bucket + "-ref"))
    other.ensure_bucket()
    return other


def address_env(services: dict) -> dict[str, str]:
    variables = {stage.service: stage.address_variable for stage in PIPELINE}
    return {variables[name]: service.address for name, service in services.items()}


def coordinator_stub(address: str) -> tuple[grpc.aio.Channel, coordinator_pb2_grpc.CoordinatorServiceStub]:
    channel = grpc.aio.insecure_channel(address)
    return channel, coordinator_pb2_grpc.CoordinatorServiceStub(channel)


async def wait_finished(stub, run_id: str, timeout: float = 120.0) -> coordinator_pb2.Run:
    """Follow WatchRun until the run ends; return the last snapshot."""
    async def follow() -> coordinator_pb2.Run:
        last = None
        async for reply in stub.WatchRun(coordinator_pb2.WatchRunRequest(run_id=run_id)):
            last = reply.run
        return last
    return await asyncio.wait_for(follow(), timeout)


def dataset_signature(store: Store, run_id: str) -> list[tuple]:
    """What a finished run produced, independent of the run id and timing:
    (seed, query index, split, instruction) of every kept sample, in order."""
    result = store.get_json(layout.result_record(run_id))
    outputs = StoredOutputs(store, run_id)
    rows = []
    for entry in result["samples"]:
        detox = outputs.get_json(layout.stage_output(run_id, entry["id"], DETOXIFY.key))
        rows.append((entry["seed_id"], entry["query_index"], entry["split"],
                     DETOXIFY.result_of(detox).instruction.instruction))
    return rows


def stage_done_events(log_text: str) -> list[tuple[str, str]]:
    """(item, stage) of every durable stage output a coordinator logged (one
    line per group of outputs stored, naming each as item:stage)."""
    found = []
    for line in log_text.splitlines():
        if '"stage outputs stored"' not in line:
            continue
        found += [tuple(label.rsplit(":", 1)) for label in json.loads(line)["outputs"]]
    return found


def stored_outputs(store: Store, run_id: str) -> dict[str, dict]:
    """Every stage output a run stored, by its key, whichever shape it was
    stored in (grouped, or one object per output)."""
    grouped = StoredOutputs(store, run_id).grouped
    single = {key: store.get_json(key) for key in store.list_keys(layout.run_prefix(run_id))
              if ("/samples/" in key or "/seeds/" in key) and key not in grouped}
    return {**grouped, **single}


def stored_results(store: Store, run_id: str) -> dict[str, dict]:
    """Every stage result a run stored, by its output's key, as
    json_format's JSON object (proto field names), decoded by its stage."""
    results = {}
    for key, stored in stored_outputs(store, run_id).items():
        stage = named(key.rsplit("/", 1)[-1].removesuffix(".json"))
        results[key] = json_format.MessageToDict(stage.result_of(stored), preserving_proto_field_name=True)
    return results


def stored_output_count(store: Store, run_id: str) -> int:
    """How many stage outputs of the run are durable (read from its groups)."""
    keys = group_keys(run_id, store.list_keys(layout.outputs_prefix(run_id)))
    return sum(len(store.get_json(key)["outputs"]) for key in keys)


__all__ = ["small_config", "load_run_config", "InProcessStages", "address_env", "coordinator_stub",
           "wait_finished", "dataset_signature", "stage_done_events", "stored_outputs", "stored_results",
           "stored_output_count", "DEMO_SEEDS", "STAGE_SERVICES"]
