"""Integration tier: the evaluation runner with the real vLLM server as the
candidate (text-only: the tiny model rejects image parts) and the judge service
judging with the same server."""

from __future__ import annotations

from services.evaluation.dataset import load_samples
from services.evaluation.generation import CandidateSettings
from services.evaluation.judging import ServiceJudge
from services.evaluation.records import read_rows
from services.evaluation.report import build_report
from services.evaluation.runner import EvalPlan, run_evaluation
from services.judge.client import JudgeClient
from tests.evaluation.support import make_mis_test
from tests.support.processes import vllm_env

import pytest

pytestmark = pytest.mark.integration


async def test_eval_runner_with_vllm(tmp_path, start_service, vllm):
    samples = load_samples(["easy", "hard"], make_mis_test(tmp_path / "MIS_Test", {"easy": 3, "hard": 2}))
    service = start_service("judge", {**vllm_env(vllm, "MIS_JUDGE_MODEL_"),
                                      "MIS_JUDGE_SEND_IMAGES": "false"})
    candidate = CandidateSettings(base_url=vllm.base_url, model=vllm.served_name, max_tokens=48,
                                  concurrency=4, timeout_seconds=60, text_only=True)
    out = tmp_path / "run"

    def judges():
        return [ServiceJudge(JudgeClient(service.address), "openai", 4),
                ServiceJudge(JudgeClient(service.address), "keyword", 4)]

    first = judges()
    try:
        progress = await run_evaluation(EvalPlan(samples, candidate, first, out))
    finally:
        for judge in first:
            await judge.close()
    responses = read_rows(out / "responses.jsonl")
    assert sorted(responses) == sorted(s.id for s in samples)
    assert progress.generated + progress.generation_errors == len(samples)
    assert all(r.get("model") == "tiny" for r in responses.values() if "response" in r)
    for label in ("openai", "keyword"):
        rows = read_rows(out / f"judgements-{label}.jsonl")
        assert sorted(rows) == sorted(s.id for s in samples), label
        assert all(("class" in r) != ("error" in r) for r in rows.values())

    # Resuming does no generation work and re-judges only what has no verdict yet.
    second = judges()
    try:
        again = await run_evaluation(EvalPlan(samples, candidate, second, out))
    finally:
        for judge in second:
            await judge.close()
    assert again.generated == 0 and again.generation_errors == 0
    assert again.judged["keyword"] == 1  # the probe that shows the judge is the same
    report = build_report(out, ["openai", "keyword"], "tiny")
    overall = report["metrics"]["overall"]
    assert overall["judged"] + overall["errors"] == len(samples)
