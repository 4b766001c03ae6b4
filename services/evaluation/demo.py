"""The last step of `mis demo` (`make run`): evaluate the offline dry-run
candidate on the exported dataset's test splits, judged by the stack's judge
service with its offline backend, and write the report. It shows a newcomer
build, judge and report in one command; every page it writes says that both
the candidate and the judge are dry-run placeholders.
"""

from __future__ import annotations

from pathlib import Path

from services.evaluation.dataset import load_samples
from services.evaluation.generation import CandidateSettings
from services.evaluation.judging import ServiceJudge
from services.evaluation.report import (build_report, write_html, write_json,
                                         write_official_judgements, write_run_info)
from services.evaluation.runner import EvalPlan, run_evaluation
from services.judge.client import JudgeClient

DEMO_JUDGE_BACKEND = "offline"


async def evaluate_offline_candidate(dataset: Path, out: Path, judge_address: str) -> dict:
    """The report of the offline candidate on every test split in `dataset`."""
    samples = load_samples(None, dataset)
    candidate = CandidateSettings(base_url="", model="offline", backend="offline")
    judge = ServiceJudge(JudgeClient(judge_address), DEMO_JUDGE_BACKEND)
    try:
        await judge.check()
        write_run_info(out, candidate, samples)
        await run_evaluation(EvalPlan(samples, candidate, [judge], out))
    finally:
        await judge.close()
    report = build_report(out, [judge.label], candidate.label, sample_count=len(samples))
    write_json(report, out / "report.json")
    write_html(report, out / "report.html")
    write_official_judgements(out, judge.label)
    return report
