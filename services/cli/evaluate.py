"""`mis eval`: evaluate a candidate model on MIS test splits.

    mis eval run --data MIS_Test --model-url http://vllm:8000/v1 --model mirage-8b \\
        --out runs/mirage-8b [--split easy --split hard] [--limit 20] \\
        [--prompt-layout internvl] [--judge-address judge:50051 --judge-token-file token.txt] \\
        [--judge-backend openai --judge-backend keyword] [--max-error-rate 0.05]
    mis eval run --config eval.yaml           # the same options as YAML keys
    mis eval report --out runs/mirage-8b --judge-backend openai
    mis eval compare runs/base/report.json runs/mirage-8b/report.json --out compare.html
    mis eval run --benchmark siuo --data SIUO/data --model-url ... --model mirage-8b \\
        --out runs/mirage-8b/siuo --judge-url https://api.openai.com/v1 --judge-model gpt-4o
    mis eval table runs/internvl-8b runs/mirage-8b runs/gpt-4o --out table.html
    mis eval general --endpoint http://vllm:8000/v1 --model mirage-8b --out runs/mirage-8b \\
        --tasks mmstar,mmmu_val,muirbench,qbench2_dev,mmt_mi_val

`general` runs lmms-eval (make setup-lmms) against the endpoint and writes
general.json into --out; `compare` then shows its change per task beside the
safety numbers (docs/benchmarks.md).

`--benchmark` (siuo, mssbench, figstep, mm-safetybench, jailbreakv-28k,
vlguard; default mis) reads that benchmark's public release from --data and
judges it with its official judge (docs/benchmarks.md).

`--data FOLDER` alone evaluates every split file (`mis_easy.json`,
`mis_hard.json`, `mis_real.json`) in FOLDER, a MIS_Test copy or a dataset
export. Without --judge-address the judge runs in this process, configured by
the judge service's own MIS_JUDGE_* and MIS_S3_* variables.

Exit codes: 0 done; 1 nothing was judged or the error share is over
--max-error-rate; 2 a usage or input mistake (said in one line); 130 Ctrl-C.
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
    # Unset options stay unset, so a --config file fills exactly what the flags did not.
    run = actions.add_parser("run", help="generate, judge (resuming) and report",
                             argument_default=argparse.SUPPRESS)
    add_run_arguments(run)
    add_judge_arguments(run)
    run.set_defaults(handler=run_command, parser=run)

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

    general = actions.add_parser("general", help="general capability: lmms-eval tasks against "
                                                 "the endpoint, into general.json")
    add_general_arguments(general)
    general.set_defaults(handler=general_command)

    table = actions.add_parser("table", help="one row per model: MIS, the other safety "
                                             "benchmarks and the general average")
    table.add_argument("folders", type=Path, nargs="+",
                       help="model run folders (the first is the baseline of the changes)")
    table.add_argument("--label", action="append", dest="labels", default=[],
                       help="row names, in the folders' order (default: the reports' model)")
    table.add_argument("--out", type=Path, required=True, help="HTML file to write")
    table.add_argument("--markdown", type=Path, help="also write the table as Markdown")
    table.set_defaults(handler=table_command)


def add_general_arguments(general: argparse.ArgumentParser) -> None:
    general.add_argument("--endpoint", required=True,
                         help="the candidate's OpenAI-compatible base URL, e.g. http://vllm:8000/v1")
    general.add_argument("--model", required=True, help="the candidate's served model name")
    general.add_argument("--tasks", action="append", required=True,
                         help="lmms-eval task names, comma-separated or repeated (the paper's: "
                              "mmstar,mmmu_val,muirbench,qbench2_dev,mmt_mi_val)")
    general.add_argument("--out", type=Path, required=True,
                         help="the model's run folder: general.json, lmms-eval's output and log")
    general.add_argument("--include-path", type=Path, action="append", dest="include_paths",
                         default=[], help="folder of local lmms-eval task YAMLs (repeatable)")
    general.add_argument("--metric", action="append", dest="metrics", default=[],
                         help="TASK=METRIC: the metric to report for a task outside the paper's "
                              "five (default: the task's first)")
    general.add_argument("--limit", type=int, default=0, help="only the first N samples per task")
    general.add_argument("--api-key-file", type=Path, help="file with the endpoint's API key "
                                                           "(else MIS_EVAL_API_KEY)")
    general.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    general.add_argument("--timeout", type=float, default=300.0, help="seconds per request")
    general.add_argument("--lmms-python", type=Path,
                         help="Python of the environment lmms-eval is installed in "
                              "(default: the project's .venv-lmms)")


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    from services.evaluation.benchmarks.registry import BENCHMARKS
    from services.evaluation.generation import LAYOUTS

    run.add_argument("--config", type=Path, help="YAML file of these options (flags win)")
    run.add_argument("--data", type=Path, help="MIS_Test folder or dataset export (or the "
                                                "--benchmark's release folder)")
    run.add_argument("--benchmark", choices=["mis", *BENCHMARKS],
                     help="mis (default) or another of the paper's safety benchmarks, read from "
                          "its public release in --data")
    run.add_argument("--split", action="append", dest="splits",
                     help="easy, hard, real, NAME=FILE.json, FILE.json or a folder of mis_*.json "
                          "(repeatable; default: every mis_*.json split in --data); with "
                          "--benchmark, its subsets (docs/benchmarks.md)")
    run.add_argument("--out", type=Path, help="run folder (resumed when it exists)")
    run.add_argument("--limit", type=int, help="only the first N samples (smoke run)")
    run.add_argument("--candidate", choices=("openai", "offline"),
                     help="offline: the dry-run candidate (no model), named as such")
    run.add_argument("--model-url", help="candidate's OpenAI-compatible base URL, e.g. http://vllm:8000/v1")
    run.add_argument("--model", help="candidate's served model name")
    run.add_argument("--api-key-file", type=Path, help="file with the candidate's API key "
                                                       "(else MIS_EVAL_API_KEY)")
    run.add_argument("--max-tokens", type=int, help="max new tokens (paper: 1024)")
    run.add_argument("--concurrency", type=int)
    run.add_argument("--timeout", type=float, help="seconds per candidate request")
    run.add_argument("--prompt-layout", choices=sorted(LAYOUTS),
                     help="internvl: the paper's InternVL prompt, "
                          "'Image-1: <image>\\n\\nImage-2: <image>\\n\\n{question}'")
    run.add_argument("--text-only", action="store_true",
                     help="send the question without images, for text-only endpoints only "
                          "(results are not comparable with the paper's)")
    run.add_argument("--skip-generation", action="store_true",
                     help="judge the responses already in --out")
    run.add_argument("--regenerate", action="store_true",
                     help="answer again the samples whose stored answers were made otherwise")
    run.add_argument("--max-error-rate", type=float,
                     help="exit 1 when more than this share of samples has no verdict")
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--label", help="model name shown in reports")


def add_judge_arguments(parser: argparse.ArgumentParser) -> None:
    from services.evaluation.benchmarks.plan import JUDGE_KINDS

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
    parser.add_argument("--batch-size", type=int, help="items per judge call")
    parser.add_argument("--judge", choices=JUDGE_KINDS,
                        help="a --benchmark's judge (default: the benchmark's official one)")
    parser.add_argument("--judge-url", help="OpenAI-compatible base URL of a --benchmark's model "
                                            "judge (Llama Guard, GPT-4o)")
    parser.add_argument("--judge-model", help="the model judge's served name")
    parser.add_argument("--judge-api-key-file", type=Path,
                        help="file with the model judge's API key (else MIS_EVAL_JUDGE_API_KEY)")
    parser.add_argument("--judge-text-only", action="store_true",
                        help="send a --benchmark's model judge no images (text-only endpoints)")
    parser.add_argument("--judge-guided", action="store_true",
                        help="the model judge's endpoint is vLLM: ask it for the judge's answer "
                             "format as structured output")


RUN_DEFAULTS = {
    "config": None, "data": None, "splits": None, "out": None, "limit": 0, "candidate": "openai",
    "model_url": None, "model": None, "api_key_file": None, "max_tokens": 1024, "concurrency": 8,
    "timeout": 300.0, "prompt_layout": "images-first", "text_only": False,
    "skip_generation": False, "regenerate": False, "max_error_rate": 0.1, "no_progress": False,
    "label": "", "judge_address": None, "judge_token_file": None, "judge_tls": False,
    "judge_ca": None, "judge_cert": None, "judge_key": None, "judge_backends": None,
    "batch_size": 16, "benchmark": "mis", "judge": None, "judge_url": None, "judge_model": None,
    "judge_api_key_file": None, "judge_text_only": False, "judge_guided": False,
}


def resolve_options(args: argparse.Namespace) -> argparse.Namespace:
    """Each option from the command line, else the `--config` file, else its default."""
    from services.evaluation.preflight import PreflightError, load_eval_config

    config = getattr(args, "config", None)
    values = load_eval_config(Path(config), RUN_DEFAULTS) if config else {}
    actions = {a.dest: a for a in args.parser._actions}
    for dest, default in RUN_DEFAULTS.items():
        if hasattr(args, dest):
            continue  # given on the command line
        if dest not in values:
            setattr(args, dest, default)
            continue
        value, action = values[dest], actions[dest]
        if isinstance(default, bool) and not isinstance(value, bool):
            raise PreflightError(f"--config {config}: {dest}: expected true or false")
        if action.type is not None and value is not None and not isinstance(value, list):
            try:
                value = action.type(value)
            except (TypeError, ValueError):
                raise PreflightError(f"--config {config}: {dest}: {value!r} is not a "
                                     f"{action.type.__name__}") from None
        if action.choices and value not in action.choices:
            raise PreflightError(f"--config {config}: {dest}: {value!r} is not one of "
                                 f"{', '.join(map(str, action.choices))}")
        setattr(args, dest, value)
    return args


def read_secret(path: Path, option: str) -> str:
    from services.evaluation.preflight import PreflightError

    try:
        return path.read_text().strip()
    except OSError as exc:
        raise PreflightError(f"{option} {path}: cannot read: {exc.strerror}") from None


def build_judges(args: argparse.Namespace) -> list:
    from services.common.settings import SettingsError, load_settings
    from services.common.store import StoreError
    from services.evaluation.judging import InProcessJudge, ServiceJudge
    from services.evaluation.preflight import PreflightError
    from services.judge.client import JudgeClient
    from services.judge.config import Settings
    from services.judge.judge import Judge

    backends = args.judge_backends or [""]
    if args.judge_address:
        token = read_secret(args.judge_token_file, "--judge-token-file") if args.judge_token_file else None
        return [ServiceJudge(JudgeClient(args.judge_address, token=token,
                                         tls=args.judge_tls, ca=args.judge_ca,
                                         cert=args.judge_cert, key=args.judge_key),
                             backend, args.batch_size) for backend in backends]
    try:
        settings = load_settings(Settings)
        judge = Judge.from_settings(settings)
    except SettingsError as exc:
        raise PreflightError(f"judge settings: {exc}") from None
    except StoreError as exc:
        raise PreflightError(
            f"the judge's verdict cache needs the S3 store at {settings.store.endpoint}, which "
            f"did not answer ({str(exc).splitlines()[0][:200]}); start it (mis stack up), or "
            f"set MIS_JUDGE_CACHE=false to judge without a cache") from None
    return [InProcessJudge(judge, backend, args.batch_size, owned=index == 0)
            for index, backend in enumerate(backends)]


def candidate_settings(args: argparse.Namespace):
    from services.evaluation.generation import CandidateSettings
    from services.evaluation.preflight import PreflightError, check_endpoint

    if args.skip_generation:
        return None
    if args.candidate == "offline":
        return CandidateSettings(base_url="", model="offline", max_tokens=args.max_tokens,
                                 layout=args.prompt_layout, text_only=args.text_only,
                                 backend="offline")
    if not args.model_url or not args.model:
        raise PreflightError("--model-url and --model are required (or --candidate offline, "
                             "or --skip-generation)")
    api_key = (read_secret(args.api_key_file, "--api-key-file") if args.api_key_file
               else os.environ.get("MIS_EVAL_API_KEY", ""))
    check_endpoint(args.model_url)
    return CandidateSettings(base_url=args.model_url, model=args.model, api_key=api_key,
                             max_tokens=args.max_tokens, concurrency=args.concurrency,
                             timeout_seconds=args.timeout, text_only=args.text_only,
                             layout=args.prompt_layout)


def build_judge_store(args: argparse.Namespace):
    """The store that caches a --benchmark's model judgements (None when the
    judge settings turn the cache off)."""
    from services.common.settings import SettingsError, load_settings
    from services.common.store import AsyncStore, Store, StoreError
    from services.evaluation.benchmarks.cache import JudgementCache
    from services.evaluation.preflight import PreflightError
    from services.judge.config import Settings

    try:
        settings = load_settings(Settings)
    except SettingsError as exc:
        raise PreflightError(f"judge settings: {exc}") from None
    if not settings.judge.cache_enabled:
        return JudgementCache(None)
    try:
        store = Store.from_settings(settings.store)
        store.ensure_bucket()
    except StoreError as exc:
        raise PreflightError(
            f"the judge's cache needs the S3 store at {settings.store.endpoint}, which did not "
            f"answer ({str(exc).splitlines()[0][:200]}); start it (mis stack up), or set "
            f"MIS_JUDGE_CACHE=false to judge without a cache") from None
    return JudgementCache(AsyncStore(store))


def benchmark_samples(args: argparse.Namespace):
    """A --benchmark run's benchmark and samples."""
    from services.evaluation.benchmarks import registry
    from services.evaluation.preflight import PreflightError

    bench = registry.benchmark(args.benchmark)
    if args.data is None:
        raise PreflightError(f"--benchmark {bench.name} needs --data, the release folder")
    return bench, bench.read(args.data, args.splits)


def benchmark_judge(args: argparse.Namespace, bench):
    """A --benchmark run's judge: its official one unless --judge says otherwise."""
    from services.evaluation.benchmarks import plan, registry
    from services.evaluation.preflight import check_endpoint

    kind = plan.judge_kind(bench, args.judge)
    endpoint = None
    if kind != registry.KEYWORD:
        endpoint = plan.endpoint_of(args.judge_url, args.judge_model, args.judge_api_key_file, kind)
        check_endpoint(endpoint.base_url)
    cache = build_judge_store(args) if endpoint is not None else None
    return plan.build_judge(kind, endpoint, cache, args.batch_size,
                            send_images=not args.judge_text_only, guided=args.judge_guided)


async def evaluate(args: argparse.Namespace) -> dict:
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


def compare_command(args: argparse.Namespace) -> int:
    from services.evaluation.compare import ReportError, load_report, model_names, render_comparison
    from services.evaluation.general_change import change_beside, change_html, change_lines

    try:
        first, second = (load_report(path) for path in (args.first, args.second))
        general = change_beside(args.first, args.second, model_names(first, second))
    except ReportError as exc:
        print(f"mis eval compare: {exc}", file=sys.stderr)
        return 2
    page = render_comparison(first, second, change_html(general) if general else "")
    args.out.write_text(page.html)
    for warning in [*page.warnings, *(general.warnings if general else [])]:
        print(f"warning: {warning}")
    for line in change_lines(general) if general else []:
        print(line)
    print(f"comparison: {args.out}")
    return 0


def general_command(args: argparse.Namespace) -> int:
    from services.evaluation.general import (GeneralError, GeneralPlan, GeneralRunFailed,
                                             parse_metrics, parse_tasks, run_general)
    from services.evaluation.preflight import PreflightError

    try:
        api_key = (read_secret(args.api_key_file, "--api-key-file") if args.api_key_file
                   else os.environ.get("MIS_EVAL_API_KEY", ""))
        plan = GeneralPlan(args.endpoint, args.model, parse_tasks(args.tasks), args.out,
                           include_paths=args.include_paths, metrics=parse_metrics(args.metrics),
                           limit=args.limit, api_key=api_key, concurrency=args.concurrency,
                           timeout_seconds=args.timeout, python=args.lmms_python)
        summary = run_general(plan, announce=lambda line: print(line, file=sys.stderr))
    except GeneralRunFailed as exc:
        print(f"mis eval general: {exc}", file=sys.stderr)
        return 1
    except (GeneralError, PreflightError) as exc:
        print(f"mis eval general: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nmis eval general: interrupted; nothing was written", file=sys.stderr)
        return 130
    for name, task in summary["tasks"].items():
        print(f"{name:>16}: {task['score']:6.2f}  ({task['metric']}, n={task['samples']})")
    print(f"{'average':>16}: {summary['average']:6.2f}  (lmms-eval {summary['lmms_eval_version']})")
    print(f"general: {args.out / 'general.json'}")
    return 0


def table_command(args: argparse.Namespace) -> int:
    from services.evaluation.compare import ReportError
    from services.evaluation.model_table import model_row, render_html, render_markdown

    if len(args.labels) not in (0, len(args.folders)):
        print(f"mis eval table: --label: give one per folder ({len(args.folders)}), or none",
              file=sys.stderr)
        return 2
    labels = args.labels or [""] * len(args.folders)
    try:
        rows = [model_row(folder, label) for folder, label in zip(args.folders, labels)]
    except ReportError as exc:
        print(f"mis eval table: {exc}", file=sys.stderr)
        return 2
    markdown = render_markdown(rows)
    args.out.write_text(render_html(rows))
    if args.markdown:
        args.markdown.write_text(markdown)
    print(markdown, end="")
    print(f"table: {args.out}")
    return 0
