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
from pathlib import Path

from services.cli.eval_compare import compare_command, general_command, table_command
from services.cli.eval_options import (add_general_arguments, add_judge_arguments,
                                       add_run_arguments, resolve_options)
from services.cli.eval_run import report_command, run_command

# resolve_options is re-exported: tests resolve a shipped --config through this module.
__all__ = ["register", "resolve_options"]


def register(commands: argparse._SubParsersAction) -> None:
    """The `mis eval` tree in one place: every subcommand and its help reads here, while the
    bodies and the longer option lists live in the eval_* modules beside this one."""
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
