"""`mis eval run` and `mis eval report`: evaluate a model on MIS (or a `--benchmark`) and
write its reports; `report` rebuilds them from a run folder's judgements.

Both print the same summary; `run` alone turns the report into its exit code
(`verdict_of_run`), so a CI job fails when nothing was judged or too many samples
have no verdict.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from services.cli.eval_options import resolve_options
from services.cli.eval_setup import benchmark_judge, benchmark_samples, build_judges, candidate_settings
from services.common.logs import configure_logging


async def evaluate(args: argparse.Namespace) -> dict:
    """Generate, judge and report one run; the judges are closed even when it is cut short."""
    from services.evaluation.dataset import load_samples
    from services.evaluation.preflight import PreflightError
    from services.evaluation.progress import NoBars, RichBars
    from services.evaluation.report import build_report, write_run_info
    from services.evaluation.runner import EvalPlan, run_evaluation

    bench = None
    if args.benchmark != "mis":
        bench, samples = benchmark_samples(args)
    else:
        if args.judge or args.judge_url or args.judge_guided:
            raise PreflightError("--judge, --judge-url and --judge-guided are for --benchmark "
                                 "runs; an MIS run is judged by the judge service "
                                 "(--judge-backend)")
        samples = load_samples(args.splits, args.data)
    if args.limit > 0:
        samples = samples[:args.limit]
    candidate = candidate_settings(args)
    judges = build_judges(args) if bench is None else [benchmark_judge(args, bench)]
    bars = NoBars() if args.no_progress or not sys.stderr.isatty() else RichBars()
    try:
        for judge in judges:
            await judge.check()
        write_run_info(args.out, candidate, samples, args.limit, args.benchmark)
        await run_evaluation(EvalPlan(samples, candidate, judges, args.out, args.label,
                                      regenerate=args.regenerate, bars=bars))
    finally:
        bars.close()
        for judge in judges:
            await judge.close()
    label = args.label or (candidate.label if candidate else "")
    if bench is not None:
        from services.evaluation.benchmarks.report import (build_benchmark_report,
                                                           write_benchmark_reports)

        report = build_benchmark_report(args.out, bench, [j.label for j in judges], label,
                                        sample_count=len(samples))
        write_benchmark_reports(report, args.out)
        return report
    report = build_report(args.out, [j.label for j in judges], label, sample_count=len(samples))
    write_reports(report, args.out, [j.label for j in judges])
    return report


def write_reports(report: dict, out: Path, labels: list[str]) -> None:
    from services.evaluation.report import write_html, write_json, write_official_judgements

    write_json(report, out / "report.json")
    write_html(report, out / "report.html")
    for label in labels:
        write_official_judgements(out, label)


def print_summary(report: dict) -> None:
    for line in report.get("banners", []):
        print(f"note: {line}")
    if "benchmark" in report:
        for name, metrics in [("overall", report["metrics"]["overall"]),
                              *report["metrics"]["by_split"].items()]:
            rates = "  ".join(f"{k} {v['value']:6.2f}" for k, v in metrics.items()
                              if isinstance(v, dict))
            print(f"{name:>14}: {rates}  (n={metrics['judged']}, errors={metrics['errors']})")
        return
    for name, metrics in [("overall", report["metrics"]["overall"]),
                          *report["metrics"]["by_split"].items()]:
        print(f"{name:>10}: ASR {metrics['ASR']['value']:6.2f}  RSR {metrics['RSR']['value']:6.2f}  "
              f"RR {metrics['RR']['value']:6.2f}  HR {metrics['HR']['value']:6.2f}  "
              f"(n={metrics['judged']}, errors={metrics['errors']})")
    if "agreement" in report and report["agreement"]["kappa"] is not None:
        print(f"Cohen's kappa: {report['agreement']['kappa']:.3f}")


def verdict_of_run(report: dict, max_error_rate: float) -> tuple[int, str]:
    """The exit code and, when it is not 0, why."""
    overall = report["metrics"]["overall"]
    judged, errors = overall["judged"], overall["errors"]
    if judged == 0:
        return 1, f"nothing was judged ({errors} errors); see the errors in report.json"
    share = errors / (judged + errors)
    if share > max_error_rate:
        return 1, (f"{errors} of {judged + errors} samples have no verdict ({share:.1%}), over "
                   f"--max-error-rate {max_error_rate:.1%}")
    return 0, ""


def run_command(args: argparse.Namespace) -> int:
    from services.evaluation.dataset import DatasetError
    from services.evaluation.judging import JudgeUnusable
    from services.evaluation.preflight import PreflightError
    from services.evaluation.runner import StaleAnswers

    configure_logging("eval", os.environ.get("MIS_LOG_LEVEL", "WARNING"))
    try:
        resolve_options(args)
        if args.out is None:
            raise PreflightError("--out is required (the run folder)")
        args.out = Path(args.out)
        args.data = Path(args.data) if args.data else None
        report = asyncio.run(evaluate(args))
    except (DatasetError, PreflightError, JudgeUnusable, StaleAnswers) as exc:
        print(f"mis eval run: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\nmis eval run: interrupted; what finished is kept in {args.out}, and the same "
              f"command resumes", file=sys.stderr)
        return 130
    print_summary(report)
    print(f"report: {args.out / 'report.html'}")
    code, reason = verdict_of_run(report, args.max_error_rate)
    if code:
        print(f"mis eval run: {reason}", file=sys.stderr)
    return code


def report_command(args: argparse.Namespace) -> int:
    from services.evaluation.report import build_report

    labels = args.judge_backends or sorted(
        p.stem.removeprefix("judgements-") for p in args.out.glob("judgements-*.jsonl"))
    if not labels:
        print(f"mis eval report: no judgements-*.jsonl in {args.out}", file=sys.stderr)
        return 2
    info_path = args.out / "run.json"
    benchmark = json.loads(info_path.read_text()).get("benchmark", "mis") if info_path.is_file() else "mis"
    if benchmark != "mis":
        from services.evaluation.benchmarks.registry import BENCHMARKS
        from services.evaluation.benchmarks.report import (build_benchmark_report,
                                                           write_benchmark_reports)

        report = build_benchmark_report(args.out, BENCHMARKS[benchmark], labels, args.label)
        write_benchmark_reports(report, args.out)
    else:
        report = build_report(args.out, labels, args.label)
        write_reports(report, args.out, labels)
    print_summary(report)
    return 0
