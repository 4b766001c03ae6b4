"""The general-capability change between two models for `mis eval compare`,
like the paper's Table 6: each lmms-eval task's score from the general.json
beside each report (`general.py` writes them), and the average over the tasks
both models ran, with its change and warnings where the two runs differ.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GeneralChange:
    """Two models' general.json side by side (the paper's Table 6): each task's
    score, and the average over the tasks both ran, with its change."""

    names: tuple[str, str]
    rows: list[tuple[str, float | None, float | None]]
    average: tuple[float, float] | None
    warnings: list[str]

    @property
    def shared(self) -> list[str]:
        return [task for task, a, b in self.rows if a is not None and b is not None]


def general_change(first: dict, second: dict, names: tuple[str, str]) -> GeneralChange:
    a, b = first["tasks"], second["tasks"]
    tasks = [*a, *(task for task in b if task not in a)]
    rows = [(task, score_of(a, task), score_of(b, task)) for task in tasks]
    shared = [task for task, x, y in rows if x is not None and y is not None]
    warnings = []
    only = [task for task in tasks if task not in shared]
    if only:
        warnings.append(f"general tasks run for one model only, left out of the average: "
                        f"{', '.join(only)}")
    for task in shared:
        if a[task].get("metric") != b[task].get("metric"):
            warnings.append(f"general task {task}: scored by {a[task].get('metric')} vs "
                            f"{b[task].get('metric')}")
    versions = [first.get("lmms_eval_version"), second.get("lmms_eval_version")]
    if versions[0] != versions[1]:
        warnings.append(f"general tasks run by lmms-eval {versions[0]} vs {versions[1]}")
    average = None
    if shared:
        average = (sum(a[t]["score"] for t in shared) / len(shared),
                   sum(b[t]["score"] for t in shared) / len(shared))
    return GeneralChange(names, rows, average, warnings)


def score_of(tasks: dict, task: str) -> float | None:
    return float(tasks[task]["score"]) if task in tasks else None


def change_cells(a: float | None, b: float | None) -> tuple[str, str, str]:
    shown = ["" if v is None else f"{v:.2f}" for v in (a, b)]
    return shown[0], shown[1], "" if a is None or b is None else f"{b - a:+.2f}"


def change_html(change: GeneralChange) -> str:
    """The general section of the comparison page (higher is better)."""
    def row(name: str, a: float | None, b: float | None, css: str = "") -> str:
        first, second, delta = change_cells(a, b)
        mark = "" if not delta or abs(b - a) < 0.005 else ("better" if b > a else "worse")
        return (f'<tr class="{css}"><td>{html.escape(name)}</td><td>{first}</td><td>{second}</td>'
                f'<td class="{mark}">{delta}</td></tr>')

    body = [row(task, a, b) for task, a, b in change.rows]
    if change.average:
        body.append(row(f"average ({len(change.shared)} tasks)", *change.average, css="average"))
    head = "".join(f"<th>{html.escape(name)}</th>" for name in change.names)
    return ('<h2>General capability (lmms-eval)</h2><p>Scores in percent, higher is better; '
            'the average is over the tasks both models ran.</p><table id="compare-general">'
            f'<tr><th>task</th>{head}<th>change</th></tr>{"".join(body)}</table>')


def change_lines(change: GeneralChange) -> list[str]:
    """The same table for the terminal."""
    width = max(len(name) for name in change.names) + 2
    lines = [f"{'general':>16}  {change.names[0]:>{width}}  {change.names[1]:>{width}}  change"]
    rows = list(change.rows)
    if change.average:
        rows.append(("average", *change.average))
    for task, a, b in rows:
        first, second, delta = change_cells(a, b)
        lines.append(f"{task:>16}  {first:>{width}}  {second:>{width}}  {delta}")
    return lines


def change_beside(first_report: Path, second_report: Path,
                  names: tuple[str, str]) -> GeneralChange | None:
    """The general change of two runs, from the general.json beside each
    report.json; None when neither run has one."""
    from services.evaluation.model_table import GENERAL, load_general

    found = [load_general(path.parent / GENERAL) for path in (first_report, second_report)]
    if found == [None, None]:
        return None
    if None in found:
        lacking = names[found.index(None)]
        empty = {"tasks": {}}
        change = general_change(found[0] or empty, found[1] or empty, names)
        return GeneralChange(names, change.rows, None,
                             [f"{lacking} has no {GENERAL} beside its report, so the general "
                              f"tasks have no change; run mis eval general --out for it"])
    return general_change(found[0], found[1], names)
