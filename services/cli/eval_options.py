"""`mis eval run` and `mis eval general` options, and how a `--config` file fills them.

`run` declares its flags with no defaults (argparse.SUPPRESS), so `resolve_options`
can tell a flag given on the command line from one left to the YAML file or to
RUN_DEFAULTS: flags win, then the file, then the default. A file value is checked
against the flag's own type and choices, so a YAML mistake reads like a flag mistake.
"""

from __future__ import annotations

import argparse
from pathlib import Path


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
    """A key or token from the file an option names; an unreadable file is a
    usage mistake naming the option, not a traceback."""
    from services.evaluation.preflight import PreflightError

    try:
        return path.read_text().strip()
    except OSError as exc:
        raise PreflightError(f"{option} {path}: cannot read: {exc.strerror}") from None
