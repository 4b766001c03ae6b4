"""The integration tier: a run of 12 seeds with every stage on the `openai`
backend against the real vLLM servers, the tiny text model (extraction,
detoxification, the text label) and the tiny VLM, sent both images in order
(image seeds, the T2I review, the image-harm check, the CoT labels).

The weights are random, so what is proved is the model path itself: bounded
schemas under guided decoding give a parsed answer for every call that
reaches a stage (never UNPARSEABLE_OUTPUT from the schema, never
MODEL_UNAVAILABLE), the detoxifier runs on the extracted queries, and every
record carries vLLM provenance. Random answers do not pass the detoxifier's
own checks (an instruction that keeps both image references), so samples
reaching annotate and the export need a model that answers on task."""

from __future__ import annotations

import asyncio

import pytest

from mis.v1 import coordinator_pb2
from services.coordinator import layout
from services.coordinator.callers import GrpcCallers
from services.coordinator.runs import RunManager
from tests.coordinator.conftest import small_config
from tests.support.inprocess import InProcessStages
from tests.support.processes import vllm_env

pytestmark = pytest.mark.integration

SEEDS = 12
STAGES = ("extract", "detoxify", "render", "filter", "annotate")


def stage_outputs(store, run_id: str) -> dict[str, list[dict]]:
    """Every stage output of the run, by stage."""
    outputs: dict[str, list[dict]] = {stage: [] for stage in STAGES}
    for key in store.list_keys(layout.run_prefix(run_id)):
        stage = key.rsplit("/", 1)[-1].removesuffix(".json")
        if stage in outputs:
            outputs[stage].append(store.get_json(key)["result"])
    return outputs


def parsed(result: dict) -> bool:
    """Whether the stage's model answered within its schema."""
    rejection = result.get("rejection") or {}
    failed = ("does not fit the schema" in rejection.get("detail", "")
              or rejection.get("reason") == "REJECTION_REASON_MODEL_UNAVAILABLE")
    return not failed and "error" not in result


def records(result: dict) -> list[dict]:
    found = result.get("provenance") or []
    return [found] if isinstance(found, dict) else list(found)


async def test_twelve_seeds_run_on_vllm_and_every_answer_parses(vllm, vlm, store, store_env):
    env = {**store_env, **vllm_env(vllm, "MIS_LLM_"), **vllm_env(vlm, "MIS_VLM_"),
           "MIS_VLM_SEND_IMAGES": "true", "MIS_T2I_WIDTH": "64", "MIS_T2I_HEIGHT": "64",
           "MIS_LLM_MAX_ATTEMPTS": "2", "MIS_VLM_MAX_ATTEMPTS": "2",
           # Greedy random weights write the same phrase for both objects, and
           # extraction discards such a pair; sampling varies them.
           "MIS_LLM_TEMPERATURE": "1.0", "MIS_VLM_TEMPERATURE": "1.0"}
    stages = await InProcessStages().start_all(env)
    try:
        manager = RunManager(store, GrpcCallers(stages.stage_addresses()))
        config = small_config(limit=SEEDS)
        for stage in config.stages:
            stage.timeout_seconds, stage.max_attempts, stage.concurrency = 600, 2, 4
        run = await manager.create(config, "vllm")

        async def follow():
            last = run
            async for snapshot in manager.watch(run.id, interval=0.5):
                last = snapshot
            return last
        final = await asyncio.wait_for(follow(), 1200)
        await manager.close()
    finally:
        await stages.stop()
    assert final.state == coordinator_pb2.RUN_STATE_SUCCEEDED, final.message
    outputs = stage_outputs(store, run.id)
    assert len(outputs["extract"]) == SEEDS
    counts = {stage: sum(map(parsed, results)) for stage, results in outputs.items()}
    # Every seed's answer parsed, and the detoxifier parsed its first pass on
    # every query extraction produced.
    assert counts["extract"] == SEEDS, [r.get("rejection") for r in outputs["extract"]]
    unparsed = {stage: [r.get("rejection") or r.get("error") for r in results if not parsed(r)]
                for stage, results in outputs.items()}
    assert counts["detoxify"] > 0 and counts["detoxify"] == len(outputs["detoxify"]), unparsed
    for stage, results in outputs.items():
        assert counts[stage] == len(results), (stage, [r.get("rejection") for r in results])
        for result in results:
            for record in records(result):
                assert record["backend"] == "openai" and record["model"] in ("tiny", "tiny-vlm")
                assert record["promptVersion" if "promptVersion" in record else "prompt_version"]
    assert final.progress.tokens.prompt_tokens > 0 and final.progress.tokens.completion_tokens > 0
