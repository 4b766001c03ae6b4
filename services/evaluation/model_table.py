"""One row per model, like the paper's Tables 4-6 (`mis eval table`): MIS
easy/hard/real ASR and RSR, SIUO's safe rate, MSSBench's accuracy, FigStep's
ASR, and the general-capability average; MM-SafetyBench, JailbreakV-28K and
VLGuard appear as columns when some model was evaluated on them.

A model is a folder: its MIS run's `report.json`, the benchmark runs'
`report.json` in that folder or its sub-folders (told apart by their
`benchmark` field), and `general.json` beside the MIS report, written by the
general-capability run:

    {"tasks": {"<task>": {"metric": "<name>", "score": <0-100>}},
     "average": <float>, "lmms_eval_version": "<v>"}

A number that is missing shows as "-". Rows after the first show their change
from the first model (the paper's base), and a cell says whether lower or
higher is better in its column head.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.evaluation.benchmarks.registry import BENCHMARKS
from services.evaluation.compare import ReportError
from services.evaluation.report_html import STYLE, E

GENERAL = "general.json"


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    lower_is_better: bool
    always: bool = True


COLUMNS = (
    *(Column(f"mis-{split}-{metric}", f"MIS {split} {metric}", metric == "ASR")
      for split in ("easy", "hard", "real") for metric in ("ASR", "RSR")),
    Column("siuo", "SIUO safe rate", False),
    Column("mssbench", "MSSBench accuracy", False),
    Column("figstep", "FigStep ASR", True),
    Column("mm-safetybench", "MM-SafetyBench ASR", True, always=False),
    Column("jailbreakv-28k", "JailbreakV-28K ASR", True, always=False),
    Column("vlguard", "VLGuard ASR", True, always=False),
    Column("general", "General avg", False),
)


@dataclass
class ModelRow:
    name: str
    folder: Path
    cells: dict[str, float | None] = field(default_factory=dict)
    general: dict | None = None


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except OSError as exc:
        raise ReportError(f"{path}: cannot read: {exc.strerror}") from None
    except (json.JSONDecodeError, RecursionError, ValueError):
        raise ReportError(f"{path}: not JSON") from None


def load_general(path: Path) -> dict | None:
    """general.json when present (None when absent), checked field by field."""
    if not path.is_file():
        return None
    data = read_json(path)
    if not isinstance(data, dict):
        raise ReportError(f"{path}: expected an object with tasks, average, lmms_eval_version")
    average = data.get("average")
    if isinstance(average, bool) or not isinstance(average, (int, float)):
        raise ReportError(f"{path}: average: required, a number")
    tasks = data.get("tasks")
    if not isinstance(tasks, dict):
        raise ReportError(f"{path}: tasks: required, an object of task name to metric and score")
    for name, task in tasks.items():
        score = task.get("score") if isinstance(task, dict) else None
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise ReportError(f"{path}: tasks.{name}.score: required, a number (0-100)")
    return data


def reports_in(folder: Path) -> dict[str, dict]:
    """The reports in `folder` and its sub-folders, by benchmark ("mis" for MIS)."""
    if not folder.is_dir():
        raise ReportError(f"{folder}: not a folder (give a model's run folder)")
    found: dict[str, dict] = {}
    for path in [folder / "report.json", *sorted(folder.glob("*/report.json"))]:
        if not path.is_file():
            continue
        report = read_json(path)
        if not isinstance(report, dict) or not isinstance(report.get("metrics"), dict):
            raise ReportError(f"{path}: not a report.json of mis eval (no metrics)")
        name = report.get("benchmark", "mis")
        if name in found:
            raise ReportError(f"{folder}: two {name} reports (one in {path.parent}); keep one "
                              f"per model folder")
        found[name] = report
    return found


def value(metrics: dict, *path: str) -> float | None:
    node: Any = metrics
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return float(node["value"]) if isinstance(node, dict) and "value" in node else None


def model_row(folder: Path, label: str = "") -> ModelRow:
    reports = reports_in(folder)
    general = load_general(folder / GENERAL)
    if not reports and general is None:
        raise ReportError(f"{folder}: no report.json (MIS or benchmark) and no {GENERAL}")
    mis = reports.get("mis")
    name = (label or (mis or next(iter(reports.values()), {})).get("model")
            or (general or {}).get("model") or folder.name)
    row = ModelRow(name, folder, general=general)
    for split in ("easy", "hard", "real"):
        for metric in ("ASR", "RSR"):
            row.cells[f"mis-{split}-{metric}"] = (
                value(mis["metrics"], "by_split", split, metric) if mis else None)
    for bench in BENCHMARKS.values():
        report = reports.get(bench.name)
        row.cells[bench.name] = (value(report["metrics"], "overall", bench.headline)
                                 if report else None)
    row.cells["general"] = float(general["average"]) if general else None
    return row


def beside_mis(folder: Path) -> dict:
    """What the MIS report shows of the model's other runs: each benchmark's
    headline number (with its interval) from the sub-folders, and the general
    average. A broken file there is named, never fatal to the MIS report."""
    try:
        reports = reports_in(folder)
        general = load_general(folder / GENERAL)
    except ReportError as exc:
        return {"problem": str(exc)}
    out: dict[str, Any] = {"benchmarks": {}}
    for name, report in reports.items():
        bench = BENCHMARKS.get(name)
        if bench is None:
            continue
        overall = report["metrics"].get("overall", {})
        out["benchmarks"][name] = {"title": bench.title, "metric": bench.headline,
                                   "lower_is_better": bench.lower_is_better,
                                   **{k: overall.get(bench.headline, {}).get(k)
                                      for k in ("value", "low", "high")},
                                   "judged": overall.get("judged"), "errors": overall.get("errors")}
    if general is not None:
        out["general"] = {"average": general["average"],
                          "lmms_eval_version": general.get("lmms_eval_version", ""),
                          "tasks": {t: v["score"] for t, v in general["tasks"].items()}}
    return out


def shown_columns(rows: list[ModelRow]) -> list[Column]:
    return [c for c in COLUMNS
            if c.always or any(r.cells.get(c.key) is not None for r in rows)]


def cell_text(value: float | None, base: float | None) -> str:
    if value is None:
        return "-"
    if base is None:
        return f"{value:.2f}"
    return f"{value:.2f} ({value - base:+.2f})"


def render_markdown(rows: list[ModelRow]) -> str:
    columns = shown_columns(rows)
    head = "| model | " + " | ".join(
        f"{c.title} {'↓' if c.lower_is_better else '↑'}" for c in columns) + " |"
    lines = [head, "|" + "---|" * (len(columns) + 1)]
    for index, row in enumerate(rows):
        base = rows[0] if index else None
        cells = [cell_text(row.cells.get(c.key), base.cells.get(c.key) if base else None)
                 for c in columns]
        lines.append(f"| {row.name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def general_table(rows: list[ModelRow]) -> str:
    """Table 6: the general tasks' scores per model, when any model has them."""
    tasks = sorted({t for r in rows if r.general for t in r.general["tasks"]})
    if not tasks:
        return ""
    head = "".join(f"<th>{E(t)}</th>" for t in tasks)
    body = []
    for row in rows:
        scores = (row.general or {}).get("tasks", {})
        cells = "".join(f"<td>{scores[t]['score']:.2f}</td>" if t in scores else "<td>-</td>"
                        for t in tasks)
        average = row.cells.get("general")
        version = (row.general or {}).get("lmms_eval_version", "")
        body.append(f"<tr><td>{E(row.name)}</td>{cells}<td>"
                    f"{'-' if average is None else f'{average:.2f}'}</td><td>{E(version)}</td></tr>")
    return (f'<h2>General capability</h2><table id="general"><tr><th>model</th>{head}'
            f'<th>average</th><th>lmms-eval</th></tr>{"".join(body)}</table>')


def render_html(rows: list[ModelRow]) -> str:
    columns = shown_columns(rows)
    head = "".join(f"<th>{E(c.title)} {'↓' if c.lower_is_better else '↑'}</th>" for c in columns)
    body = []
    for index, row in enumerate(rows):
        cells = []
        for column in columns:
            current = row.cells.get(column.key)
            base = rows[0].cells.get(column.key) if index else None
            css = ""
            if current is not None and base is not None and abs(current - base) >= 0.005:
                better = current < base if column.lower_is_better else current > base
                css = "better" if better else "worse"
            cells.append(f'<td class="{css}" data-column="{E(column.key)}">'
                         f"{E(cell_text(current, base))}</td>")
        body.append(f'<tr><td>{E(row.name)}</td>{"".join(cells)}</tr>')
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Safety and '
            f'capability by model</title><style>{STYLE}</style></head><body><h1>Safety and '
            f'capability by model</h1><p>One row per model; rows after the first show their '
            f'change from {E(rows[0].name)}. ↓: lower is better; ↑: higher is better; "-": not '
            f'evaluated.</p><table id="model-table"><tr><th>model</th>{head}</tr>'
            f'{"".join(body)}</table>{general_table(rows)}</body></html>')
