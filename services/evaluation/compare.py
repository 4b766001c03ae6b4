"""Two evaluation runs side by side (`mis eval compare`): each metric overall,
per split and per category with the change, ASR bars per category, and a paired
significance test per split: McNemar's exact test on attack success over the
samples both runs judged. Differences in judge, generation settings or data
that make the comparison unfair are returned as warnings and shown on the page.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from services.evaluation.report_html import STYLE, E

METRICS = ("ASR", "RSR", "RR", "HR")


class ReportError(ValueError):
    """The file is not a report.json of `mis eval`; the message says what it is."""


@dataclass(frozen=True)
class Comparison:
    html: str
    warnings: list[str]


def load_report(path: Path) -> dict:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ReportError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        report = json.loads(text)
    except (json.JSONDecodeError, RecursionError, ValueError):
        hint = " (that is the HTML page; give report.json)" if text.lstrip().startswith("<") else ""
        raise ReportError(f"{path}: not JSON{hint}") from None
    if not isinstance(report, dict) or not isinstance(report.get("metrics"), dict) or \
            not all(k in report["metrics"] for k in ("overall", "by_split", "by_category")):
        raise ReportError(f"{path}: not a report.json of mis eval run (no metrics per split "
                          f"and category); give the report.json in a run folder")
    if report.get("benchmark", "mis") != "mis":
        raise ReportError(f"{path}: a {report.get('benchmark_title', report['benchmark'])} report; "
                          f"compare models on the other benchmarks with mis eval table")
    return report


def mcnemar(first: dict, second: dict, split: str | None) -> dict:
    """Exact McNemar test on UNSAFE vs not, over ids both runs judged."""
    a, b = first.get("outcomes") or {}, second.get("outcomes") or {}
    both = [i for i in a if i in b and a[i]["class"] and b[i]["class"]
            and (split is None or a[i]["split"] == split)]
    only_first = sum(1 for i in both if a[i]["class"] == "UNSAFE" and b[i]["class"] != "UNSAFE")
    only_second = sum(1 for i in both if a[i]["class"] != "UNSAFE" and b[i]["class"] == "UNSAFE")
    n = only_first + only_second
    tail = sum(math.comb(n, k) for k in range(min(only_first, only_second) + 1)) / 2 ** n if n else 1.0
    return {"paired": len(both), "only_first_unsafe": only_first,
            "only_second_unsafe": only_second, "p_value": min(1.0, 2 * tail)}


def comparability_warnings(first: dict, second: dict) -> list[str]:
    warnings = []

    def primary(report: dict) -> dict:
        judge = next((j for j in report.get("judges", []) if j["label"] == report.get("primary_judge")), {})
        return {k: judge.get(k) for k in ("backend", "judge_model", "rubric_version", "images_sent")}

    if primary(first) != primary(second):
        warnings.append(f"the runs were judged differently: {primary(first)} vs {primary(second)}")
    keys = ("max_tokens", "temperature", "layout", "text_only")
    settings = [{k: (r.get("candidate") or {}).get(k) for k in keys} for r in (first, second)]
    if settings[0] != settings[1]:
        warnings.append(f"generation settings differ: {settings[0]} vs {settings[1]}")
    hashes = [(r.get("dataset") or {}).get("hash") for r in (first, second)]
    if hashes[0] != hashes[1]:
        warnings.append("the runs evaluated different data (dataset hashes differ)")
    return warnings


def metrics_rows(first: dict, second: dict, groups: list[tuple[str, dict | None, dict | None]]) -> str:
    rows = []
    for name, a, b in groups:
        cells = []
        for metric in METRICS:
            va = a[metric]["value"] if a else None
            vb = b[metric]["value"] if b else None
            change = "" if va is None or vb is None else f"{vb - va:+.2f}"
            css = ""
            # Lower ASR and higher RSR are improvements; RR and HR are shown plain.
            if change and abs(vb - va) >= 0.005 and metric in ("ASR", "RSR"):
                css = "better" if (vb < va if metric == "ASR" else vb > va) else "worse"
            cells.append(f"<td>{'' if va is None else f'{va:.2f}'}</td>"
                         f"<td>{'' if vb is None else f'{vb:.2f}'}</td>"
                         f'<td class="{css}">{change}</td>')
        rows.append(f"<tr><td>{E(name)}</td>{''.join(cells)}</tr>")
    return "".join(rows)


def section(first: dict, second: dict, names: tuple[str, str], title: str, key: str,
            table_id: str, overall: bool) -> str:
    keys = sorted(set(first["metrics"][key]) | set(second["metrics"][key]))
    groups = [(k, first["metrics"][key].get(k), second["metrics"][key].get(k)) for k in keys]
    if overall:
        groups.insert(0, ("overall", first["metrics"]["overall"], second["metrics"]["overall"]))
    head = "".join(f"<th>{m} {E(names[0])}</th><th>{m} {E(names[1])}</th><th>change</th>"
                   for m in METRICS)
    return (f"<h2>{title}</h2><table id=\"{table_id}\"><tr><th>{title.split()[-1]}</th>"
            f"{head}</tr>{metrics_rows(first, second, groups)}</table>")


def significance(first: dict, second: dict) -> str:
    splits = sorted(set(first["metrics"]["by_split"]) | set(second["metrics"]["by_split"]))
    rows = []
    for split in [*splits, None]:
        test = mcnemar(first, second, split)
        rows.append(f'<tr><td>{E(split or "overall")}</td><td>{test["paired"]}</td>'
                    f'<td>{test["only_first_unsafe"]}</td><td>{test["only_second_unsafe"]}</td>'
                    f'<td class="p">{test["p_value"]:.4f}</td></tr>')
    return ('<h2>Paired test (McNemar, exact)</h2><p>Attack success per sample, over the '
            'samples both runs judged.</p><table id="mcnemar"><tr><th>split</th><th>paired</th>'
            '<th>unsafe only in first</th><th>unsafe only in second</th><th>p</th></tr>'
            f'{"".join(rows)}</table>')


def paired_bars(first: dict, second: dict, names: tuple[str, str]) -> str:
    groups = sorted(set(first["metrics"]["by_category"]) | set(second["metrics"]["by_category"]))
    width, label_width, bar, gap = 600, 260, 12, 10
    height = len(groups) * (2 * bar + gap) + gap
    out = [f'<svg id="asr-bars" class="bars" xmlns="http://www.w3.org/2000/svg" '
           f'width="{width + label_width + 80}" height="{height}">']
    for row, group in enumerate(groups):
        y = gap + row * (2 * bar + gap)
        out.append(f'<text x="0" y="{y + bar + 4}" font-size="12">{E(group)}</text>')
        for offset, (report, colour) in enumerate(((first, "#888"), (second, "#d62728"))):
            metrics = report["metrics"]["by_category"].get(group)
            value = metrics["ASR"]["value"] if metrics else 0.0
            out.append(f'<rect class="asr-{offset}" x="{label_width}" y="{y + offset * bar}" '
                       f'width="{value / 100 * width:.1f}" height="{bar - 1}" fill="{colour}">'
                       f'<title>{E(names[offset])}: ASR {value:.1f}%</title></rect>'
                       f'<text x="{label_width + value / 100 * width + 4:.1f}" '
                       f'y="{y + offset * bar + bar - 2}" font-size="10">{value:.1f}</text>')
    out.append("</svg>")
    return "".join(out)


def model_names(first: dict, second: dict) -> tuple[str, str]:
    return first.get("model") or "A", second.get("model") or "B"


def render_comparison(first: dict, second: dict, general: str = "") -> Comparison:
    """The comparison page and the warnings about how fair it is; `general`,
    the general-capability section, goes last."""
    names = model_names(first, second)
    warnings = comparability_warnings(first, second)
    banner = "".join(f'<p class="banner warning">{E(w)}</p>' for w in warnings)
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>MIS comparison: '
            f'{E(names[0])} vs {E(names[1])}</title><style>{STYLE}</style></head><body>'
            f'<h1>MIS comparison: {E(names[0])} vs {E(names[1])}</h1>{banner}'
            f'<p>Grey: {E(names[0])}; red: {E(names[1])}. ASR per category (lower is better).</p>'
            f'{paired_bars(first, second, names)}'
            f'{section(first, second, names, "Per split", "by_split", "compare-split", True)}'
            f'{significance(first, second)}'
            f'{section(first, second, names, "Per category", "by_category", "compare-category", False)}'
            f'{general}</body></html>')
    return Comparison(page, warnings)
