"""The integration tier: a run of the 36 demo seeds with every stage on the `openai`
backend against the real vLLM servers, the tiny text model (extraction,
detoxification, the text label) and the tiny VLM, sent both images in order
(image seeds, the T2I review, the image-harm check, the CoT labels), ends in
an exported dataset.

The weights are random. What makes their answers usable is the model path
itself: bounded schemas under guided decoding give a parsed answer for every
call (never UNPARSEABLE_OUTPUT from the schema, never MODEL_UNAVAILABLE), and
the schemas name what the later checks require (both image references in a
detoxified instruction, each object in its perception part), so some samples
pass every stage. Sampling is seeded (`MIS_*_SEED`), so the run is the same
run each time."""

from __future__ import annotations

import asyncio
import json

import pytest

from mis.v1 import coordinator_pb2
from services.coordinator import layout
from services.coordinator.callers import GrpcCallers
from services.coordinator.export import export_run
from services.coordinator.runs import RunManager
from services.coordinator.stages import BY_KEY, named
from tests.coordinator.conftest import small_config, stored_results
from tests.support.inprocess import InProcessStages
from tests.support.processes import vllm_env

pytestmark = pytest.mark.integration

SEEDS = 36
STAGES = ("extract", "detoxify", "refine", "filter", "annotate")
MODELS = ("tiny", "tiny-vlm")


def stage_outputs(store, run_id: str) -> dict[str, list[dict]]:
    """Every stage output of the run, by stage."""
    outputs: dict[str, list[dict]] = {stage: [] for stage in STAGES}
    for key, result in stored_results(store, run_id).items():
        stage = named(key.rsplit("/", 1)[-1].removesuffix(".json"))
        if stage is not None and stage.key in outputs:
            outputs[stage.key].append(result)
    return outputs


def field(record: dict, name: str):
    """A field of a stored result, whichever JSON spelling it uses."""
    camel = name.split("_")[0] + "".join(part.title() for part in name.split("_")[1:])
    return record.get(name, record.get(camel))


def parsed(result: dict) -> bool:
    """Whether the stage's model answered within its schema (the T2I review
    of every drawing round included)."""
    rejection = result.get("rejection") or {}
    failed = ("does not fit the schema" in rejection.get("detail", "")
              or rejection.get("reason") == "REJECTION_REASON_MODEL_UNAVAILABLE")
    reviews = [round_.get("review") for round_ in result.get("rounds", [])]
    return not failed and "error" not in result and "REVIEW_UNPARSEABLE" not in reviews


def records(result: dict) -> list[dict]:
    """The result's provenance records, a drawing round's render and review included."""
    found = result.get("provenance") or []
    found = [found] if isinstance(found, dict) else list(found)
    for round_ in result.get("rounds", []):
        found += [r for r in (field(round_, "render_provenance"), field(round_, "review_provenance")) if r]
    return found


def made_by_vllm(record: dict) -> bool:
    tokens = field(record, "tokens") or {}
    return (record["backend"] == "openai" and record["model"] in MODELS
            and bool(field(record, "prompt_version"))
            and int(field(tokens, "completion_tokens") or 0) > 0)


async def run_on_vllm(store, env: dict) -> coordinator_pb2.Run:
    stages = await InProcessStages().start_all(env)
    try:
        manager = RunManager(store, GrpcCallers(stages.stage_addresses()))
        config = small_config(limit=SEEDS, queries_per_seed=3)
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
    return final


async def test_every_demo_seed_on_vllm_parses_at_every_stage_and_exports_samples(vllm, vlm, store, store_env,
                                                                           tmp_path):
    env = {**store_env, **vllm_env(vllm, "MIS_LLM_"), **vllm_env(vlm, "MIS_VLM_"),
           "MIS_VLM_SEND_IMAGES": "true", "MIS_T2I_WIDTH": "64", "MIS_T2I_HEIGHT": "64",
           "MIS_LLM_MAX_ATTEMPTS": "2", "MIS_VLM_MAX_ATTEMPTS": "2",
           # Greedy random weights write the same phrase for both objects, and
           # extraction discards such a pair; seeded sampling varies them.
           "MIS_LLM_TEMPERATURE": "1.0", "MIS_VLM_TEMPERATURE": "1.0",
           "MIS_LLM_SEED": "1", "MIS_VLM_SEED": "1"}
    final = await run_on_vllm(store, env)
    assert final.state == coordinator_pb2.RUN_STATE_SUCCEEDED, final.message
    outputs = stage_outputs(store, final.id)
    assert len(outputs["extract"]) == SEEDS
    # Every stage ran, and every answer of every stage parsed.
    unparsed = {stage: [r.get("rejection") or r.get("error") for r in results if not parsed(r)]
                for stage, results in outputs.items()}
    for stage, results in outputs.items():
        assert results and all(map(parsed, results)), (stage, unparsed[stage])
        for result in results:
            assert all(made_by_vllm(r) for r in records(result) if r["backend"] == "openai"), stage
            assert any(made_by_vllm(r) for r in records(result)), (stage, records(result))
    assert final.progress.tokens.prompt_tokens > 0 and final.progress.tokens.completion_tokens > 0

    # Samples reach annotate and the export, made by vLLM at every stage.
    labelled = [r for r in outputs["annotate"] if r.get("cot")]
    assert labelled, [r.get("rejection") for r in outputs["annotate"]]
    folder = tmp_path / "dataset"
    manifest = await asyncio.to_thread(export_run, store, final, "v1", str(folder))
    counts = {stage: sum(1 for r in results if not r.get("rejection")) for stage, results in outputs.items()}
    assert manifest.per_split["train"] >= 1, (dict(manifest.per_split), counts)
    exported = [json.loads(line) for line in (folder / "samples.jsonl").read_text().splitlines()]
    train = [row for row in exported if row["split"] == "train"]
    assert len(train) == manifest.per_split["train"]
    by_key = stored_results(store, final.id)
    for row in train:
        sample = row["id"]
        assert row["cot_label"].strip()
        made = {(m["stage"], m["backend"], m["model"]) for m in row["provenance"]["models"]}
        assert {stage for stage, backend, model in made if backend == "openai" and model in MODELS} \
            >= set(STAGES), made
        seed = by_key[layout.extract_output(final.id, row["provenance"]["seed_id"])]
        assert any(made_by_vllm(r) for r in records(seed))
        for stage in STAGES[1:]:
            result = by_key[layout.stage_output(final.id, sample, BY_KEY[stage].stored_as)]
            assert any(made_by_vllm(r) for r in records(result)), (stage, records(result))
