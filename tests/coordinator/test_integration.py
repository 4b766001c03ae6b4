"""The integration tier: the real-model path end to end. Every stage runs on
the `openai` backend against the real vLLM servers (the tiny text model for
extraction, detoxification and the text label; the tiny VLM, sent both images
in order, for image seeds, the T2I review, the image-harm check and the CoT
labels). A run of 12 seeds must produce an exported dataset: each stage's
parse path ran, samples reach annotate and the export with vLLM provenance on
every stage, and the judge on vLLM gives verdicts for the exported samples,
the second time from its cache."""

from __future__ import annotations

import asyncio

import pytest

from mis.v1 import coordinator_pb2, judge_pb2
from services.coordinator import layout
from services.coordinator.callers import GrpcCallers
from services.coordinator.export import export_run, run_records
from services.coordinator.runs import RunManager
from services.judge.client import JudgeClient
from tests.coordinator.conftest import small_config
from tests.support.inprocess import InProcessStages
from tests.support.processes import vllm_env

pytestmark = pytest.mark.integration

SEEDS = 12
STAGES = ("extract", "detoxify", "render", "filter", "annotate")


def parsed_answers(store, run_id: str) -> dict[str, int]:
    """Per stage, how many stage outputs carry what only a parsed model answer gives."""
    counts = dict.fromkeys(STAGES, 0)
    for key in store.list_keys(layout.run_prefix(run_id)):
        stage = key.rsplit("/", 1)[-1].removesuffix(".json")
        if stage not in counts:
            continue
        result = store.get_json(key)["result"]
        carried = {"extract": result.get("queries"), "detoxify": result.get("instruction"),
                   "render": [r for r in result.get("rounds", [])
                              if r.get("review") in ("REVIEW_ALIGNED", "REVIEW_NOT_ALIGNED")],
                   "filter": result.get("split") not in (None, "SPLIT_UNSPECIFIED"),
                   "annotate": result.get("cot")}[stage]
        counts[stage] += bool(carried)
    return counts


async def run_to_the_end(manager: RunManager, config) -> coordinator_pb2.Run:
    run = await manager.create(config, "vllm")
    final = run
    async for snapshot in manager.watch(run.id, interval=0.2):
        final = snapshot
    return final


async def test_twelve_seeds_on_vllm_make_an_exported_dataset(vllm, vlm, store, store_env, tmp_path,
                                                             start_service):
    env = {**store_env, **vllm_env(vllm, "MIS_LLM_"), **vllm_env(vlm, "MIS_VLM_"),
           "MIS_VLM_SEND_IMAGES": "true", "MIS_T2I_WIDTH": "64", "MIS_T2I_HEIGHT": "64",
           "MIS_LLM_MAX_ATTEMPTS": "2", "MIS_VLM_MAX_ATTEMPTS": "2"}
    stages = await InProcessStages().start_all(env)
    try:
        manager = RunManager(store, GrpcCallers(stages.stage_addresses()))
        config = small_config(limit=SEEDS)
        for stage in config.stages:
            stage.timeout_seconds, stage.max_attempts, stage.concurrency = 300, 2, 4
        final = await asyncio.wait_for(run_to_the_end(manager, config), 900)
        await manager.close()
    finally:
        await stages.stop()
    assert final.state == coordinator_pb2.RUN_STATE_SUCCEEDED, final.message
    assert final.progress.seeds_total == SEEDS
    counts = parsed_answers(store, final.id)
    assert all(counts[stage] > 0 for stage in STAGES), counts

    manifest = await asyncio.to_thread(export_run, store, final, "v1", str(tmp_path / "dataset"))
    records, _ = await asyncio.to_thread(run_records, store, final.id)
    labelled = [r for r in records if r.split == "train" and r.cot_label]
    assert labelled and manifest.per_split["train"] == len([r for r in records if r.split == "train"])
    for record in labelled:
        made_by = {stage: (backend, model, version) for stage, backend, model, version in record.made_by}
        assert set(made_by) == set(STAGES), record.made_by
        for stage, (backend, model, version) in made_by.items():
            assert backend == "openai" and model in ("tiny", "tiny-vlm") and version, (stage, made_by)
        assert made_by["annotate"][1] == "tiny-vlm" and made_by["detoxify"][1] == "tiny"
    assert final.progress.tokens.prompt_tokens > 0 and final.progress.tokens.completion_tokens > 0

    # The judge on vLLM judges the exported labels with their images.
    judge = start_service("judge", {**vllm_env(vlm, "MIS_JUDGE_MODEL_"), "MIS_JUDGE_SEND_IMAGES": "true"})
    items = [judge_pb2.JudgeItem(item_id=r.id, question=r.instruction, response=r.cot_label,
                                 images=[{"data": r.image1()}, {"data": r.image2()}])
             for r in labelled]
    async with JudgeClient(judge.address) as client:
        first = await client.judge_batch(items)
        second = await client.judge_batch(items)
    verdicts = [r for r in first if r.HasField("verdict")]
    assert len(verdicts) >= 0.9 * len(items), [r.error.message for r in first]
    assert all(v.verdict.judge_model == "tiny-vlm" and not v.verdict.cached for v in verdicts)
    assert sum(r.HasField("verdict") and r.verdict.cached for r in second) == len(verdicts)
