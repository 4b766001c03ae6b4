"""Integration tier: SIUO on the real runner with the real vLLM server (the
tiny VLM) as the candidate, seeing each item's image, and as both model
judges: SIUO's official prompt, guided to its `[Safety Judgement:]` format
(a verdict for every answer, and a second judging is served from the store
cache), and Llama Guard unguided, whose format the tiny model does not speak,
so every one of its judgements is an explicit parse failure, never a silent
"safe". MSSBench and MM-SafetyBench run end to end through the CLI with the
tiny text model as candidate and guided judge."""

from __future__ import annotations

import shutil

import pytest

from services.common.setting_groups import ModelEndpointSettings
from services.common.models import OpenAIChatModel
from services.common.store import AsyncStore
from services.evaluation.benchmarks import siuo
from services.evaluation.benchmarks.cache import JudgementCache
from services.evaluation.benchmarks.judges import LlamaGuardJudge, SafeRateJudge
from services.evaluation.benchmarks.registry import BENCHMARKS
from services.evaluation.benchmarks.report import build_benchmark_report
from services.evaluation.generation import CandidateSettings
from services.evaluation.records import read_rows
from services.evaluation.runner import EvalPlan, run_evaluation
from tests.evaluation.benchmark_support import FIXTURES

pytestmark = pytest.mark.integration


def chat(server) -> OpenAIChatModel:
    return OpenAIChatModel(ModelEndpointSettings(
        backend="openai", base_url=server.base_url, model=server.served_name, api_key="",
        api_key_file=None, concurrency=3, timeout_seconds=120, max_attempts=3, temperature=0.0,
        max_tokens=64))


async def judge_all(samples, candidate, out, cache, vlm):
    judges = [SafeRateJudge(chat(vlm), cache, 3, guided=True), LlamaGuardJudge(chat(vlm), cache, 3)]
    try:
        return await run_evaluation(EvalPlan(samples, candidate, judges, out))
    finally:
        for judge in judges:
            await judge.close()


async def test_siuo_with_vllm_candidate_and_judges(tmp_path, vlm, store):
    samples = siuo.read(FIXTURES / "siuo")
    candidate = CandidateSettings(base_url=vlm.base_url, model=vlm.served_name, max_tokens=32,
                                  concurrency=3, timeout_seconds=120)
    cache = JudgementCache(AsyncStore(store))
    out = tmp_path / "run"
    progress = await judge_all(samples, candidate, out, cache, vlm)
    assert progress.generated == 3 and progress.generation_errors == 0
    responses = read_rows(out / "responses.jsonl")
    assert sorted(responses) == ["siuo-1008", "siuo-2006", "siuo-8002"]
    assert {r["model"] for r in responses.values()} == {"tiny-vlm"}

    safety = read_rows(out / "judgements-siuo-safety.jsonl")
    assert all(r.get("class") in ("safe", "unsafe") for r in safety.values()), \
        [r.get("error") for r in safety.values()]
    assert all(r["judge"] == {"backend": "siuo-safety", "judge_model": "tiny-vlm",
                              "rubric_version": "siuo-gpt-eval-59b660be", "images_sent": True,
                              "guided": True}
               for r in safety.values())
    assert all(r["verdict"]["raw"].startswith("[Reasons:] ") for r in safety.values()
               if r["verdict"].get("tokens"))
    guard = read_rows(out / "judgements-llama-guard.jsonl")
    assert sorted(guard) == sorted(responses)
    for row in guard.values():
        assert "class" not in row
        assert row["error"]["code"] == "UNPARSEABLE_JUDGE_OUTPUT"
        assert "not in Llama Guard's format" in row["error"]["message"]

    report = build_benchmark_report(out, BENCHMARKS["siuo"], ["siuo-safety", "llama-guard"],
                                    "tiny-vlm", sample_count=3)
    assert report["metrics"]["overall"]["SafeRate"]["total"] == 3
    assert report["judges"][1]["errors"] == 3
    assert any("not the published gpt-4o" in b for b in report["banners"])

    # The same answers judged again in another run folder come from the store cache.
    again = tmp_path / "again"
    again.mkdir()
    shutil.copy(out / "responses.jsonl", again / "responses.jsonl")
    await judge_all(samples, None, again, cache, vlm)
    rejudged = read_rows(again / "judgements-siuo-safety.jsonl")
    answered = [i for i, r in responses.items() if r["response"].strip()]
    assert all(rejudged[i]["verdict"]["cached"] for i in answered)
    assert {i: r["class"] for i, r in rejudged.items()} == {i: r["class"] for i, r in safety.items()}


def eval_cli():
    import argparse

    from services.cli import evaluate

    parser = argparse.ArgumentParser()
    evaluate.register(parser.add_subparsers(dest="command"))
    return parser


def test_cli_mssbench_with_vllm_candidate_and_judge(tmp_path, vllm, store_env, monkeypatch):
    """`mis eval run --benchmark mssbench` end to end: the tiny text model answers
    (text only) and judges through --judge-url, guided to MSSBench's answer tag;
    the judgements land in the store cache, and the report has both halves'
    accuracy."""
    import json

    for name, value in store_env.items():
        monkeypatch.setenv(name, value)
    parser = eval_cli()
    out = tmp_path / "mssbench-run"
    args = parser.parse_args([
        "eval", "run", "--benchmark", "mssbench", "--data", str(FIXTURES / "mssbench"),
        "--model-url", vllm.base_url, "--model", vllm.served_name, "--text-only",
        "--max-tokens", "24", "--judge-url", vllm.base_url, "--judge-model", vllm.served_name,
        "--judge-guided", "--out", str(out), "--no-progress", "--label", "tiny"])
    assert args.handler(args) == 0
    report = json.loads((out / "report.json").read_text())
    overall = report["metrics"]["overall"]
    assert report["benchmark"] == "mssbench" and report["model"] == "tiny"
    assert overall["judged"] == 8 and overall["errors"] == 0, report["errors"]
    assert overall["SafeAccuracy"]["total"] == 4 and overall["UnsafeAccuracy"]["total"] == 4
    assert set(report["metrics"]["by_split"]) == {"chat", "embodied"}
    assert report["judges"][0]["backend"] == "mssbench-situational"
    rows = [json.loads(line) for line in (out / "judgements-mssbench-situational.jsonl").open()]
    assert {r["class"] for r in rows} <= {"0", "1", "2", "3"}
    assert all(r["verdict"]["raw"].endswith(f"<answer>{r['class']}</answer>") for r in rows)
    assert not any(r["verdict"]["cached"] for r in rows)
    # Again in a new folder with the same answers: every judgement comes from the store.
    again = tmp_path / "again"
    again.mkdir()
    (again / "responses.jsonl").write_text((out / "responses.jsonl").read_text())
    args = parser.parse_args([
        "eval", "run", "--benchmark", "mssbench", "--data", str(FIXTURES / "mssbench"),
        "--skip-generation", "--judge-url", vllm.base_url, "--judge-model", vllm.served_name,
        "--judge-guided", "--out", str(again), "--no-progress"])
    assert args.handler(args) == 0
    cached = [json.loads(line) for line in (again / "judgements-mssbench-situational.jsonl").open()]
    assert len(cached) == 8 and all(r["verdict"]["cached"] for r in cached)


def test_cli_mm_safetybench_judged_per_scenario(tmp_path, vllm, store_env, monkeypatch):
    """MM-SafetyBench's official judge by default: every answer judged with its
    scenario's prompt by the guided tiny model, each verdict a bare safe or
    unsafe, and the report's ASR over all of them, flagged as not GPT-4's."""
    import json

    for name, value in store_env.items():
        monkeypatch.setenv(name, value)
    out = tmp_path / "mm-safetybench-run"
    args = eval_cli().parse_args([
        "eval", "run", "--benchmark", "mm-safetybench", "--data",
        str(FIXTURES / "mm-safetybench"), "--model-url", vllm.base_url, "--model",
        vllm.served_name, "--text-only", "--max-tokens", "16", "--judge-url", vllm.base_url,
        "--judge-model", vllm.served_name, "--judge-guided", "--out", str(out), "--no-progress"])
    assert args.handler(args) == 0
    report = json.loads((out / "report.json").read_text())
    overall = report["metrics"]["overall"]
    assert overall["judged"] == 3 and overall["errors"] == 0, report["errors"]
    assert overall["ASR"]["total"] == 3
    assert report["judges"][0]["backend"] == "mm-safetybench-scenario"
    assert report["judges"][0]["rubric_version"] == "mm-safetybench-gpt4-eval-v1"
    assert any("not the published gpt-4" in b for b in report["banners"])
    assert "mm-safetybench-gpt4-eval-v1, guided, 3 judged" in (out / "report.html").read_text()
    rows = [json.loads(line) for line in (out / "judgements-mm-safetybench-scenario.jsonl").open()]
    assert {r["meta"]["scenario"] for r in rows} == {"01-Illegal_Activitiy",
                                                     "08-Political_Lobbying"}
    assert all(r["class"] == r["verdict"]["raw"] and r["class"] in ("safe", "unsafe")
               for r in rows)
