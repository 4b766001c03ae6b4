"""`mis eval`: evaluate a candidate model on MIS test splits.

    mis eval run --data MIS_Test --split easy --split hard --split real \\
        --model-url http://vllm:8000/v1 --model mirage-8b --out runs/mirage-8b \\
        [--judge-address judge:50051 --judge-token-file token.txt] \\
        [--judge-backend openai --judge-backend keyword]
    mis eval report --out runs/mirage-8b --judge-backend openai
    mis eval compare runs/base/report.json runs/mirage-8b/report.json --out compare.html

Without --judge-address the judge runs in this process, configured by the
judge service's own MIS_JUDGE_* and MIS_S3_* variables.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path

from services.common.logs import configure_logging


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("eval", help="evaluate a model on MIS test splits")
    actions = parser.add_subparsers(dest="eval_command", required=True)

    run = actions.add_parser("run", help="generate, judge (resuming) and report")
    run.add_argument("--data", type=Path, help="MIS_Test folder (for --split easy/hard/real)")
    run.add_argument("--split", action="append", dest="splits",
                     help="easy, hard, real, NAME=FILE.json, FILE.json or a folder of mis_*.json "
                          "(repeatable; default: easy, hard and real)")
    run.add_argument("--out", type=Path, required=True, help="run folder (resumed when it exists)")
    run.add_argument("--model-url", help="candidate's OpenAI-compatible base URL, e.g. http://vllm:8000/v1")
    run.add_argument("--model", help="candidate's served model name")
    run.add_argument("--api-key-file", type=Path, help="file with the candidate's API key "
                                                       "(else MIS_EVAL_API_KEY)")
    run.add_argument("--max-tokens", type=int, default=1024, help="max new tokens (paper: 1024)")
    run.add_argument("--concurrency", type=int, default=8)
    run.add_argument("--timeout", type=float, default=300.0, help="seconds per candidate request")
    run.add_argument("--text-only", action="store_true",
                     help="send the question without images, for text-only endpoints only "
                          "(results are not comparable with the paper's)")
    run.add_argument("--skip-generation", action="store_true",
                     help="judge the responses already in --out")
    add_judge_arguments(run)
    run.add_argument("--label", default="", help="model name shown in reports")
    run.set_defaults(handler=run_command)

    report = actions.add_parser("report", help="rebuild report.json and report.html of a run")
    report.add_argument("--out", type=Path, required=True)
    report.add_argument("--judge-backend", action="append", dest="judge_backends",
                        help="judge labels whose judgements-<label>.jsonl to read (first: metrics)")
    report.add_argument("--label", default="")
    report.set_defaults(handler=report_command)

    compare = actions.add_parser("compare", help="compare two runs' report.json side by side")
    compare.add_argument("first", type=Path)
    compare.add_argument("second", type=Path)
    compare.add_argument("--out", type=Path, required=True, help="HTML file to write")
    compare.set_defaults(handler=compare_command)


def add_judge_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--judge-address", help="judge service host:port; without it the judge "
                                                "runs in-process from MIS_JUDGE_* variables")
    parser.add_argument("--judge-token-file", type=Path, help="bearer token for the judge service")
    parser.add_argument("--judge-tls", action="store_true", help="TLS to the judge service")
    parser.add_argument("--judge-ca", type=Path)
    parser.add_argument("--judge-cert", type=Path, help="client certificate (mutual TLS)")
    parser.add_argument("--judge-key", type=Path)
    parser.add_argument("--judge-backend", action="append", dest="judge_backends",
                        help="judge backend (repeatable: the first gives the metrics, a second "
                             "gives Cohen's kappa); default: the judge's default")
    parser.add_argument("--batch-size", type=int, default=16, help="items per judge call")


def build_judges(args: argparse.Namespace) -> list:
    from services.evaluation.judging import InProcessJudge, ServiceJudge
    from services.judge.client import JudgeClient

    backends = args.judge_backends or [""]
    if args.judge_address:
        token = args.judge_token_file.read_text().strip() if args.judge_token_file else None
        return [ServiceJudge(JudgeClient(args.judge_address, token=token,
                                         tls=args.judge_tls, ca=args.judge_ca,
                                         cert=args.judge_cert, key=args.judge_key),
                             backend, args.batch_size) for backend in backends]
    from services.common.settings import load_settings
    from services.judge.config import Settings
    from services.judge.judge import Judge

    judge = Judge.from_settings(load_settings(Settings))
    return [InProcessJudge(judge, backend, args.batch_size, owned=index == 0)
            for index, backend in enumerate(backends)]


async def evaluate(args: argparse.Namespace) -> dict:
    from services.evaluation.dataset import load_samples
    from services.evaluation.generation import CandidateSettings
    from services.evaluation.report import build_report, write_html, write_json
    from services.evaluation.runner import EvalPlan, run_evaluation

    samples = load_samples(args.splits or ["easy", "hard", "real"], args.data)
    candidate = None
    if not args.skip_generation:
        if not args.model_url or not args.model:
            raise SystemExit("mis eval run: --model-url and --model are required "
                             "(or --skip-generation)")
        api_key = (args.api_key_file.read_text().strip() if args.api_key_file
                   else os.environ.get("MIS_EVAL_API_KEY", ""))
        candidate = CandidateSettings(base_url=args.model_url, model=args.model, api_key=api_key,
                                      max_tokens=args.max_tokens, concurrency=args.concurrency,
                                      timeout_seconds=args.timeout, text_only=args.text_only)
    judges = build_judges(args)
    try:
        await run_evaluation(EvalPlan(samples, candidate, judges, args.out, args.label))
    finally:
        for judge in judges:
            await judge.close()
    report = build_report(args.out, [j.label for j in judges], args.label or args.model or "",
                          sample_count=len(samples))
    write_json(report, args.out / "report.json")
    write_html(report, args.out / "report.html")
    return report


def print_summary(report: dict) -> None:
    for name, metrics in [("overall", report["metrics"]["overall"]),
                          *report["metrics"]["by_split"].items()]:
        print(f"{name:>10}: ASR {metrics['ASR']['value']:6.2f}  RSR {metrics['RSR']['value']:6.2f}  "
              f"RR {metrics['RR']['value']:6.2f}  HR {metrics['HR']['value']:6.2f}  "
              f"(n={metrics['judged']}, errors={metrics['errors']})")
    if "agreement" in report and report["agreement"]["kappa"] is not None:
        print(f"Cohen's kappa: {report['agreement']['kappa']:.3f}")


def run_command(args: argparse.Namespace) -> int:
    from services.evaluation.dataset import DatasetError

    configure_logging("eval", os.environ.get("MIS_LOG_LEVEL", "WARNING"))
    try:
        report = asyncio.run(evaluate(args))
    except DatasetError as exc:
        print(f"mis eval run: {exc}", file=sys.stderr)
        return 2
    print_summary(report)
    print(f"report: {args.out / 'report.html'}")
    return 0


def report_command(args: argparse.Namespace) -> int:
    from services.evaluation.report import build_report, write_html, write_json

    labels = args.judge_backends or sorted(
        p.stem.removeprefix("judgements-") for p in args.out.glob("judgements-*.jsonl"))
    if not labels:
        print(f"mis eval report: no judgements-*.jsonl in {args.out}", file=sys.stderr)
        return 2
    report = build_report(args.out, labels, args.label)
    write_json(report, args.out / "report.json")
    write_html(report, args.out / "report.html")
    print_summary(report)
    return 0


def compare_command(args: argparse.Namespace) -> int:
    from services.evaluation.report import render_comparison

    first, second = (json.loads(path.read_text()) for path in (args.first, args.second))
    args.out.write_text(render_comparison(first, second))
    print(f"comparison: {args.out}")
    return 0

