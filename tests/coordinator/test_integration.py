"""The integration tier: a small run whose stage services call the real vLLM
server (a tiny random-weight text model, so text-only: images are not sent).
Its answers are garbage held in shape by structured output, so each item
either parses and moves on or is rejected with a reason; the run must end
with every sample accounted for and the model's tokens counted."""

from __future__ import annotations

import asyncio

import pytest

from mis.v1 import common_pb2, coordinator_pb2
from services.coordinator import layout
from services.coordinator.callers import GrpcCallers
from services.coordinator.runs import RunManager
from services.coordinator.inprocess import InProcessStages
from tests.coordinator.conftest import small_config
from tests.support.processes import vllm_env

pytestmark = pytest.mark.integration


async def test_a_small_run_against_vllm(vllm, store, store_env):
    env = {**store_env, **vllm_env(vllm, "MIS_LLM_"), **vllm_env(vllm, "MIS_VLM_"),
           "MIS_VLM_SEND_IMAGES": "false", "MIS_T2I_WIDTH": "64", "MIS_T2I_HEIGHT": "64", "MIS_LLM_MAX_ATTEMPTS": "2", "MIS_VLM_MAX_ATTEMPTS": "2"}
    stages = await InProcessStages().start_all(env)
    try:
        manager = RunManager(store, GrpcCallers(stages.stage_addresses()))
        config = small_config(limit=3)
        for stage in config.stages:
            stage.timeout_seconds = 300
            stage.max_attempts = 2
        run = await manager.create(config, "vllm")

        async def follow():
            last = None
            async for snapshot in manager.watch(run.id, interval=0.2):
                last = snapshot
            return last
        final = await asyncio.wait_for(follow(), 600)
        await manager.close()
    finally:
        await stages.stop()
    assert final.state == coordinator_pb2.RUN_STATE_SUCCEEDED, final.message
    assert final.progress.samples_finished == final.progress.samples_total
    extract = next(s for s in final.progress.stages if s.stage == common_pb2.STAGE_EXTRACT)
    assert extract.done + extract.rejected + extract.failed == 3
    if extract.done:
        assert final.progress.tokens.prompt_tokens > 0
    outputs = [store.get_json(k)["result"] for k in store.list_keys(layout.run_prefix(run.id) + "seeds/")]
    assert len(outputs) == 3
    for result in outputs:
        # The real endpoint answered (or was given up on) for every seed.
        assert (result["provenance"]["backend"], result["provenance"]["model"]) == ("openai", "tiny")
        assert result.get("queries") or result["rejection"]["reason"] != "REJECTION_REASON_UNSPECIFIED"
