"""General capability through lmms-eval (`mis eval general`); its
before/after delta for `mis eval compare` is `general_change.py`.

Safety fine-tuning must not cost capability: the paper reports MMStar, MMMU
val, MuirBench, Q-Bench and MMT-Bench (multi-image) for the base model and for
MIRage. Those benchmarks are lmms-eval's, so lmms-eval runs them, as a
subprocess in its own virtual environment (its dependencies would not fit
ours), against the same OpenAI-compatible endpoint the candidate is served on.
What it writes is collected into `general.json` in the run folder:

    {"tasks": {"mmstar": {"metric": "average", "score": 61.2, "samples": 1500}},
     "average": 61.2, "lmms_eval_version": "0.7.3", "model": "mirage-8b"}

Scores are percentages (lmms-eval's accuracies are fractions). lmms-eval
itself exits 0 when a task name is unknown and scores a failed request as a
wrong answer, so the task names are checked before the run, and the answers
after it: a run with failed requests writes no general.json.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT_LMMS_PYTHON = ROOT / ".venv-lmms" / "bin" / "python"
LMMS_PYTHON_VARIABLE = "MIS_LMMS_PYTHON"

# The paper's five general benchmarks as lmms-eval names them, and the metric
# each reports (a fraction). Other tasks use their first metric, or --metric.
PAPER_TASKS = {
    "mmstar": "average",
    "mmmu_val": "mmmu_acc",
    "muirbench": "muirbench_score_overall",
    "qbench2_dev": "qbench_acc",
    "mmt_mi_val": "accuracy",
}
TASK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")
# What lmms-eval's OpenAI model answers in place of a response it could not get.
FAILED_REQUEST = "[LMMS_EVAL_REQUEST_FAILED"

# Run in lmms-eval's interpreter: its version, and the kind of each name
# ("task", "python_task", "group", "tag"; null when it does not know it).
TASK_CHECK = """
import importlib.metadata, json, sys
from lmms_eval.tasks import TaskManager
names, include = json.loads(sys.argv[1]), json.loads(sys.argv[2])
index = TaskManager(verbosity="ERROR", include_path=include or None).task_index
print(json.dumps({"version": importlib.metadata.version("lmms-eval"),
                  "kinds": {n: index[n]["type"] if n in index else None for n in names}}))
"""
SINGLE_TASK = ("task", "python_task")


class GeneralError(ValueError):
    """The general run cannot start or its results cannot be read; the message
    names the option or the task and says why."""


class GeneralRunFailed(GeneralError):
    """lmms-eval ran but gave no usable scores (it failed, or requests failed)."""


@dataclass(frozen=True)
class GeneralPlan:
    endpoint: str
    model: str
    tasks: list[str]
    out: Path
    include_paths: list[Path] = field(default_factory=list)
    metrics: dict[str, str] = field(default_factory=dict)
    limit: int = 0
    api_key: str = ""
    concurrency: int = 8
    timeout_seconds: float = 300.0
    python: Path | None = None

    @property
    def lmms_out(self) -> Path:
        return self.out / "lmms-eval"

    @property
    def log_path(self) -> Path:
        return self.out / "lmms-eval.log"


def parse_tasks(values: list[str]) -> list[str]:
    """Task names from repeated or comma-separated --tasks, in order, once each."""
    names: list[str] = []
    for value in values:
        for name in (part.strip() for part in value.split(",")):
            if not name:
                continue
            if not TASK_NAME.fullmatch(name):
                raise GeneralError(f"--tasks {name!r}: not an lmms-eval task name (letters, "
                                   f"digits, '_', '-', '.')")
            if name not in names:
                names.append(name)
    if not names:
        raise GeneralError(f"--tasks: give at least one task, e.g. {','.join(PAPER_TASKS)}")
    return names


def parse_metrics(values: list[str]) -> dict[str, str]:
    metrics = {}
    for value in values:
        task, sep, metric = value.partition("=")
        if not sep or not task or not metric:
            raise GeneralError(f"--metric {value!r}: expected TASK=METRIC")
        metrics[task] = metric
    return metrics


def lmms_python(given: Path | None) -> Path:
    """The interpreter lmms-eval is installed in: --lmms-python, else
    MIS_LMMS_PYTHON (the evaluation image sets it), else the project's
    .venv-lmms."""
    if given is not None:
        if not given.exists():
            raise GeneralError(f"--lmms-python {given}: no such file")
        return given
    named = os.environ.get(LMMS_PYTHON_VARIABLE)
    if named:
        if not Path(named).exists():
            raise GeneralError(f"{LMMS_PYTHON_VARIABLE}={named}: no such file")
        return Path(named)
    if PROJECT_LMMS_PYTHON.exists():
        return PROJECT_LMMS_PYTHON
    raise GeneralError("lmms-eval is not installed: run `make setup-lmms`, or give "
                       "--lmms-python, the Python of an environment that has lmms-eval")


def served_models(endpoint: str, api_key: str, timeout_seconds: float = 10.0) -> list[str]:
    """The model names the OpenAI-compatible server at `endpoint` serves (`GET /models`)."""
    if not endpoint.startswith(("http://", "https://")):
        raise GeneralError(f"--endpoint {endpoint!r}: expected an http:// or https:// base URL, "
                           f"e.g. http://vllm:8000/v1")
    request = urllib.request.Request(endpoint.rstrip("/") + "/models",
                                     headers={"Authorization": f"Bearer {api_key or 'EMPTY'}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_seconds) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        raise GeneralError(f"--endpoint {endpoint}: GET /models answered HTTP {exc.code}"
                           f"{' (check the API key)' if exc.code in (401, 403) else ''}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise GeneralError(f"--endpoint {endpoint}: not reachable ({reason}); is the model "
                           f"server running?") from None
    try:
        return [entry["id"] for entry in body["data"]]
    except (KeyError, TypeError):
        raise GeneralError(f"--endpoint {endpoint}: GET /models is not an OpenAI model list") from None


def check_tasks(python: Path, plan: GeneralPlan) -> str:
    """lmms-eval's version, once every task name is known to it."""
    include = [str(path.resolve()) for path in plan.include_paths]
    for path in plan.include_paths:
        if not path.is_dir():
            raise GeneralError(f"--include-path {path}: not a folder")
    done = subprocess.run([str(python), "-c", TASK_CHECK, json.dumps(plan.tasks), json.dumps(include)],
                          capture_output=True, text=True, env=lmms_env(plan))
    if done.returncode != 0:
        raise GeneralError(f"lmms-eval ({python}) could not list its tasks:\n"
                           f"{tail(done.stderr, 15)}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    unknown = [name for name, kind in answer["kinds"].items() if kind is None]
    if unknown:
        hint = "" if plan.include_paths else "; a local task needs --include-path FOLDER"
        raise GeneralError(f"--tasks: unknown to lmms-eval {answer['version']}: "
                           f"{', '.join(unknown)}{hint}")
    # One score per task: a group or a tag would stand for several.
    several = [f"{name} (a {kind})" for name, kind in answer["kinds"].items() if kind not in SINGLE_TASK]
    if several:
        raise GeneralError(f"--tasks: {', '.join(several)}: name its tasks one by one, e.g. "
                           f"mmt_mi_val rather than the group mmt_mi")
    return answer["version"]


def lmms_env(plan: GeneralPlan) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)  # lmms-eval's environment, not ours
    # The key goes to lmms-eval's OpenAI client by its environment, never on a command line.
    env["OPENAI_API_KEY"] = plan.api_key or "EMPTY"
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    return env


def lmms_command(python: Path, plan: GeneralPlan) -> list[str]:
    model_args = ",".join([f"model_version={plan.model}", f"base_url={plan.endpoint.rstrip('/')}",
                           f"num_concurrent={plan.concurrency}", f"timeout={int(plan.timeout_seconds)}",
                           "max_retries=3"])
    command = [str(python), "-m", "lmms_eval", "--model", "openai", "--model_args", model_args,
               "--tasks", ",".join(plan.tasks), "--batch_size", "1", "--log_samples",
               "--output_path", str(plan.lmms_out.resolve())]
    for path in plan.include_paths:
        command += ["--include_path", str(path.resolve())]
    if plan.limit > 0:
        command += ["--limit", str(plan.limit)]
    return command


def tail(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def run_general(plan: GeneralPlan, announce: Callable[[str], None] = lambda line: None) -> dict:
    """Run lmms-eval on the plan's tasks against its endpoint; write and return general.json.

    `announce` hears one line once the checks passed and lmms-eval starts."""
    stray = [task for task in plan.metrics if task not in plan.tasks]
    if stray:
        raise GeneralError(f"--metric {stray[0]}={plan.metrics[stray[0]]}: {stray[0]} is not "
                           f"among --tasks")
    python = lmms_python(plan.python)
    served = served_models(plan.endpoint, plan.api_key)
    if plan.model not in served:
        raise GeneralError(f"--model {plan.model!r}: not served at {plan.endpoint} "
                           f"(it serves: {', '.join(served) or 'nothing'})")
    version = check_tasks(python, plan)
    plan.out.mkdir(parents=True, exist_ok=True)
    before = set(plan.lmms_out.glob("*/*_results.json"))
    announce(f"lmms-eval {version} running {', '.join(plan.tasks)}; its log: {plan.log_path}")
    with open(plan.log_path, "ab") as log:
        code = subprocess.run(lmms_command(python, plan), env=lmms_env(plan), stdout=log,
                              stderr=subprocess.STDOUT).returncode
    fresh = sorted(set(plan.lmms_out.glob("*/*_results.json")) - before,
                   key=lambda path: path.stat().st_mtime)
    if code != 0 or not fresh:
        errors = [line for line in plan.log_path.read_text(errors="replace").splitlines()
                  if "ERROR" in line or "Error" in line]
        raise GeneralRunFailed(f"lmms-eval {'exited with ' + str(code) if code else 'wrote no results'}"
                               f"; its log is {plan.log_path}"
                               + (f"; last error: {errors[-1].strip()[:500]}" if errors else ""))
    summary = collect(fresh[-1], plan, version)
    write_json(summary, plan.out / "general.json")
    return summary


def collect(results_path: Path, plan: GeneralPlan, version: str) -> dict:
    """general.json from one lmms-eval results file and its per-sample logs."""
    results = json.loads(results_path.read_text())
    tasks = {}
    for task in plan.tasks:
        scores = (results.get("results") or {}).get(task)
        if scores is None:
            raise GeneralError(f"task {task}: no result in {results_path}")
        metric = plan.metrics.get(task) or PAPER_TASKS.get(task) or first_metric(results, task)
        value = metric_value(scores, metric, task, results_path)
        samples = sample_answers(results_path, task)
        failed = [answer for answer in samples if FAILED_REQUEST in answer]
        if failed:
            raise GeneralRunFailed(f"task {task}: {len(failed)} of {len(samples)} requests to "
                                   f"{plan.endpoint} failed, so its score would count them as "
                                   f"wrong answers (lmms-eval's output is kept in {plan.lmms_out}); "
                                   f"first: {failed[0][:300]}")
        tasks[task] = {"metric": metric, "score": round(100 * value, 4), "samples": len(samples)}
    average = sum(t["score"] for t in tasks.values()) / len(tasks)
    return {"tasks": tasks, "average": round(average, 4), "lmms_eval_version": version,
            "model": plan.model}


def first_metric(results: dict, task: str) -> str:
    metric_list = ((results.get("configs") or {}).get(task) or {}).get("metric_list") or []
    if not metric_list:
        raise GeneralError(f"task {task}: lmms-eval reports no metric for it; give --metric {task}=NAME")
    return metric_list[0]["metric"]


def metric_value(scores: dict, metric: str, task: str, results_path: Path) -> float:
    # lmms-eval keys a score "METRIC,FILTER"; an unfiltered one has the filter "none".
    keys = sorted((k for k in scores if k.split(",")[0] == metric and not k.endswith("_stderr")
                   and "_stderr," not in k), key=lambda k: (not k.endswith(",none"), k))
    if not keys:
        names = sorted({k.split(",")[0] for k in scores if "," in k and "_stderr" not in k})
        raise GeneralError(f"task {task}: no metric {metric!r} in {results_path} "
                           f"(it has: {', '.join(names)}); give --metric {task}=NAME")
    value = scores[keys[0]]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise GeneralError(f"task {task}: metric {metric} is {value!r}, not a fraction in [0, 1]; "
                           f"give --metric {task}=NAME for an accuracy")
    return float(value)


def sample_answers(results_path: Path, task: str) -> list[str]:
    """The model's answers lmms-eval logged for `task` in the same run (`resps`,
    which it leaves out when they equal `filtered_resps`)."""
    date_id = results_path.name.removesuffix("_results.json")
    path = results_path.with_name(f"{date_id}_samples_{task}.jsonl")
    if not path.exists():
        raise GeneralError(f"task {task}: lmms-eval logged no answers ({path.name} missing)")
    answers = []
    for line in path.read_text().splitlines():
        if line.strip():
            sample = json.loads(line)
            answers.append(first_text(sample.get("resps", sample.get("filtered_resps"))))
    return answers


def first_text(value) -> str:
    """The first answer text of a logged response, a string or a (nested) list."""
    while isinstance(value, list):
        value = value[0] if value else ""
    return value if isinstance(value, str) else ""


def write_json(summary: dict, path: Path) -> None:
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(summary, indent=2) + "\n")
    temporary.replace(path)
