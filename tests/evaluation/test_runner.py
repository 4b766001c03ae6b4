"""The evaluation runner: judging in-process and through the judge service,
resuming, and faults that must become explicit rows."""

from __future__ import annotations

import argparse
import json

import pytest

from services.common.settings import load_settings
from services.evaluation.dataset import load_samples
from services.evaluation.generation import CandidateSettings
from services.evaluation.judging import InProcessJudge, ServiceJudge
from services.evaluation.records import read_rows
from services.evaluation.report import build_report
from services.evaluation.runner import EvalPlan, run_evaluation
from services.judge.client import JudgeClient
from services.judge.config import Settings
from services.judge.judge import Judge
from tests.evaluation.support import REASONED, REFUSAL, make_mis_test, write_responses
from tests.judge.support import TOKEN_ALICE, FailingEndpoint, write_tokens


def in_process_judge(store_settings) -> Judge:
    settings = load_settings(Settings, {"MIS_JUDGE_MODEL_BACKEND": "offline"})
    return Judge.from_settings(Settings(server=settings.server, store=store_settings,
                                        model=settings.model, judge=settings.judge))


def answer(sample) -> str:
    return REFUSAL if sample.split == "easy" else REASONED


async def test_judging_two_judges_and_resuming(tmp_path, store_settings):
    samples = load_samples(["easy", "hard"], make_mis_test(tmp_path / "MIS_Test"))
    out = tmp_path / "run"
    write_responses(out, samples, answer)
    judge = in_process_judge(store_settings)
    judges = [InProcessJudge(judge, "keyword", batch_size=3),
              InProcessJudge(judge, "offline", batch_size=3, owned=False)]
    try:
        progress = await run_evaluation(EvalPlan(samples, None, judges, out))
        assert progress.judged == {"keyword": 7, "offline": 7}
        again = await run_evaluation(EvalPlan(samples, None, judges, out))
        # One fresh verdict per judge shows it is the same judge; the rest is reused.
        assert again.judged == {"keyword": 1, "offline": 1}
    finally:
        await judges[0].close()
    rows = read_rows(out / "judgements-keyword.jsonl")
    assert sorted(rows) == sorted(s.id for s in samples)
    report = build_report(out, ["keyword", "offline"], "candidate")
    assert report["metrics"]["by_split"]["easy"]["RR"]["value"] == 100.0
    assert report["metrics"]["by_split"]["hard"]["ASR"]["value"] == 100.0
    assert report["metrics"]["overall"]["ASR"]["value"] == pytest.approx(300 / 7)
    # The offline dry-run judge agrees with the keyword heuristic it is built on.
    assert report["agreement"]["kappa"] == pytest.approx(1.0)
    assert report["agreement"]["items"] == 7


async def test_candidate_outage_gives_error_rows_never_missing_ones(tmp_path, store_settings):
    samples = load_samples(["easy"], make_mis_test(tmp_path / "MIS_Test", {"easy": 3}))
    endpoint = FailingEndpoint("500").start()
    judge = in_process_judge(store_settings)
    try:
        candidate = CandidateSettings(base_url=endpoint.base_url, model="candidate",
                                      max_attempts=2, timeout_seconds=2)
        progress = await run_evaluation(EvalPlan(samples, candidate,
                                                 [InProcessJudge(judge, "keyword")], tmp_path / "run"))
    finally:
        endpoint.stop()
        await judge.close()
    assert progress.generation_errors == 3 and endpoint.calls == 6
    responses = read_rows(tmp_path / "run" / "responses.jsonl")
    assert all(r["error"]["code"] == "ModelUnavailable" for r in responses.values())
    judged = read_rows(tmp_path / "run" / "judgements-keyword.jsonl")
    assert sorted(judged) == ["easy-1", "easy-2", "easy-3"]
    assert {r["error"]["code"] for r in judged.values()} == {"NO_RESPONSE"}


async def test_through_the_judge_service(tmp_path, start_service):
    samples = load_samples(["hard"], make_mis_test(tmp_path / "MIS_Test", {"hard": 3}))
    out = tmp_path / "run"
    write_responses(out, samples, answer)
    service = start_service("judge", {"MIS_AUTH_TOKENS_FILE": str(write_tokens(tmp_path / "t"))})
    judges = [ServiceJudge(JudgeClient(service.address, token=TOKEN_ALICE), "keyword", 2)]
    try:
        progress = await run_evaluation(EvalPlan(samples, None, judges, out))
    finally:
        await judges[0].close()
    assert progress.judged == {"keyword": 3}
    # A caller the service refuses gets error rows, not a crash and not gaps.
    refused = [ServiceJudge(JudgeClient(service.address, token="wrong-token-0123456789"), "", 2)]
    try:
        await run_evaluation(EvalPlan(samples, None, refused, out))
    finally:
        await refused[0].close()
    rows = read_rows(out / "judgements-default.jsonl")
    assert sorted(rows) == sorted(s.id for s in samples)
    assert {r["error"]["code"] for r in rows.values()} == {"UNAUTHENTICATED"}


def test_cli_run_skip_generation_writes_reports(tmp_path, store_env, monkeypatch):
    from services.cli import evaluate

    root = make_mis_test(tmp_path / "MIS_Test", {"easy": 2, "real": 2})
    samples = load_samples(["easy", "real"], root)
    write_responses(tmp_path / "run", samples, answer)
    for name, value in store_env.items():
        monkeypatch.setenv(name, value)
    parser = argparse.ArgumentParser()
    evaluate.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["eval", "run", "--data", str(root), "--split", "easy", "--split",
                              "real", "--out", str(tmp_path / "run"), "--skip-generation",
                              "--judge-backend", "keyword", "--label", "tiny"])
    assert args.handler(args) == 0
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["model"] == "tiny" and report["samples"] == 4
    assert set(report["metrics"]["by_split"]) == {"easy", "real"}
    assert (tmp_path / "run" / "report.html").read_text().startswith("<!doctype html>")
