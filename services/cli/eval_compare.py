"""`mis eval general`, `compare` and `table`: the commands that set models side by side.

`general` measures a model's general capability (lmms-eval tasks against its
endpoint) into its run folder's general.json, so that `compare` can show the change
per task beside the safety numbers of two runs, and `table` can give one row per
model: MIS, the other safety benchmarks and the general average (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import sys

from services.cli.eval_options import read_secret


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
