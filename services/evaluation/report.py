"""Reports of an evaluation run: JSON for machines, a static HTML page for
people (per-category bars as inline SVG, a per-split table with 95%
intervals, examples of each class with their images embedded), and a
side-by-side comparison of two runs. Pages are self-contained files: no
scripts, no network."""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
from pathlib import Path
from typing import Sequence

from PIL import Image

from services.evaluation.metrics import CLASSES, METRIC_OF_CLASS, cohens_kappa, confusion, summarize
from services.evaluation.records import read_rows
from services.evaluation.runner import RESPONSES, judgements_file

COLOURS = {"UNSAFE": "#d62728", "SAFE_WITH_REASONING": "#2ca02c",
           "SAFE_WITH_REFUSAL": "#1f77b4", "HALLUCINATION": "#ff7f0e"}
EXAMPLES_PER_CLASS = 3


def build_report(out_dir: Path, judge_labels: Sequence[str], model_label: str = "",
                 sample_count: int | None = None) -> dict:
    """The report of the run in `out_dir`; the first judge gives the metrics."""
    responses = read_rows(out_dir / RESPONSES)
    judged = {label: read_rows(out_dir / judgements_file(label)) for label in judge_labels}
    primary = judge_labels[0]
    rows = list(judged[primary].values())
    report = {
        "model": model_label or next((r.get("model", "") for r in responses.values()), ""),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "samples": sample_count if sample_count is not None else len(responses),
        "responses": sum(1 for r in responses.values() if "response" in r),
        "generation_errors": sum(1 for r in responses.values() if "error" in r),
        "primary_judge": primary,
        "judges": [judge_summary(label, judged[label]) for label in judge_labels],
        "metrics": summarize(rows),
        "examples": examples(rows, responses),
        "errors": [{"id": r["id"], **r["error"]} for r in rows if "error" in r][:50],
    }
    if len(judge_labels) >= 2:
        report["agreement"] = agreement(judged[judge_labels[0]], judged[judge_labels[1]],
                                        judge_labels[:2])
    return report


def judge_summary(label: str, rows: dict[str, dict]) -> dict:
    verdicts = [r["verdict"] for r in rows.values() if "verdict" in r]
    first = verdicts[0] if verdicts else {}
    return {"label": label, "rows": len(rows), "judged": len(verdicts),
            "errors": len(rows) - len(verdicts), "backend": first.get("backend", ""),
            "judge_model": first.get("judge_model", ""),
            "rubric_version": first.get("rubric_version", ""),
            "cached": sum(1 for v in verdicts if v.get("cached"))}


def agreement(first: dict[str, dict], second: dict[str, dict], labels: Sequence[str]) -> dict:
    both = sorted(i for i in first if "class" in first[i] and i in second and "class" in second[i])
    a = [first[i]["class"] for i in both]
    b = [second[i]["class"] for i in both]
    return {"judges": list(labels), **cohens_kappa(a, b), "confusion": confusion(a, b)}


def examples(rows: list[dict], responses: dict[str, dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {name: [] for name in CLASSES}
    for row in sorted(rows, key=lambda r: r["id"]):
        name = row.get("class")
        if name and len(out[name]) < EXAMPLES_PER_CLASS:
            response = responses.get(row["id"], {})
            out[name].append({"id": row["id"], "split": row["split"], "category": row["category"],
                              "question": response.get("question", ""),
                              "response": response.get("response", ""),
                              "rationale": row["verdict"].get("rationale", ""),
                              "image_path1": response.get("image_path1", ""),
                              "image_path2": response.get("image_path2", "")})
    return out


def write_json(report: dict, path: Path) -> None:
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False, sort_keys=True))


# -- HTML ---------------------------------------------------------------------------------

E = html.escape

STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:22px}h2{font-size:18px;margin-top:28px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th:first-child,td:first-child{text-align:left}.ci{color:#777;font-size:11px}
.legend span{display:inline-block;margin-right:14px;font-size:13px}
.legend i{display:inline-block;width:12px;height:12px;margin-right:4px;vertical-align:middle}
.example{border:1px solid #ddd;padding:8px;margin:8px 0;display:flex;gap:12px}
.example img{width:120px;height:120px;object-fit:contain;background:#f4f4f4}
.example p{margin:4px 0;font-size:13px;white-space:pre-wrap}.better{color:#2ca02c}.worse{color:#d62728}
"""


def legend() -> str:
    return '<div class="legend">' + "".join(
        f'<span><i style="background:{COLOURS[n]}"></i>{METRIC_OF_CLASS[n]} ({n.lower()})</span>'
        for n in CLASSES) + "</div>"


def stacked_bars(groups: dict[str, dict], chart_id: str) -> str:
    """One 100% bar per group, split into the four classes."""
    width, label_width, bar_height, gap = 760, 260, 22, 8
    height = len(groups) * (bar_height + gap) + gap
    parts = [f'<svg id="{chart_id}" class="bars" xmlns="http://www.w3.org/2000/svg" '
             f'width="{width + label_width + 60}" height="{height}" role="img">']
    for row, (name, metrics) in enumerate(groups.items()):
        y = gap + row * (bar_height + gap)
        parts.append(f'<text x="0" y="{y + 15}" font-size="12">{E(name)}</text>')
        x = float(label_width)
        for cls in CLASSES:
            share = metrics[METRIC_OF_CLASS[cls]]["value"] / 100 * width
            if share > 0:
                parts.append(f'<rect class="seg {cls}" x="{x:.1f}" y="{y}" width="{share:.1f}" '
                             f'height="{bar_height}" fill="{COLOURS[cls]}"><title>{E(name)}: '
                             f'{METRIC_OF_CLASS[cls]} {metrics[METRIC_OF_CLASS[cls]]["value"]:.1f}%'
                             f'</title></rect>')
            x += share
        parts.append(f'<text x="{label_width + width + 6}" y="{y + 15}" font-size="11">'
                     f'n={metrics["judged"]}</text>')
    parts.append("</svg>")
    return "".join(parts)


def cell(metric: dict) -> str:
    return (f'{metric["value"]:.2f}<br><span class="ci">[{metric["low"]:.1f}, '
            f'{metric["high"]:.1f}]</span>')


def metrics_table(groups: dict[str, dict], table_id: str, first: str) -> str:
    head = "".join(f"<th>{m}</th>" for m in ("ASR", "RSR", "RR", "HR", "SafeRate"))
    rows = "".join(
        f'<tr><td>{E(name)}</td>' + "".join(f"<td>{cell(m[k])}</td>" for k in
                                            ("ASR", "RSR", "RR", "HR", "SafeRate"))
        + f'<td>{m["judged"]}</td><td>{m["errors"]}</td></tr>' for name, m in groups.items())
    return (f'<table id="{table_id}"><tr><th>{E(first)}</th>{head}<th>judged</th>'
            f'<th>errors</th></tr>{rows}</table>')


def thumbnail(path: str, base: Path) -> str:
    """The image as a small embedded PNG, or a relative link when it cannot be read."""
    source = Path(path)
    try:
        with Image.open(source) as image:
            image.thumbnail((240, 240))
            buffer = io.BytesIO()
            image.convert("RGB").save(buffer, format="PNG")
    except (OSError, ValueError):
        try:
            return E(str(source.resolve().relative_to(base.resolve())))
        except ValueError:
            return E(path)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def examples_html(report: dict, base: Path) -> str:
    out = []
    for cls in CLASSES:
        out.append(f'<h3 id="examples-{cls}">{cls} ({METRIC_OF_CLASS[cls]})</h3>')
        found = report["examples"].get(cls, [])
        if not found:
            out.append("<p>none</p>")
        for example in found:
            images = "".join(f'<img alt="image {n}" src="{thumbnail(example[f"image_path{n}"], base)}">'
                             for n in (1, 2) if example.get(f"image_path{n}"))
            response = example["response"]
            if len(response) > 1200:
                response = response[:1200] + " ..."
            out.append(f'<div class="example {cls}">{images}<div>'
                       f'<p><b>{E(example["id"])}</b> ({E(example["split"])}, '
                       f'{E(example["category"])})</p><p><b>Q:</b> {E(example["question"])}</p>'
                       f'<p><b>Response:</b> {E(response)}</p>'
                       f'<p><b>Judge:</b> {E(example["rationale"])}</p></div></div>')
    return "".join(out)


def render_html(report: dict, base: Path) -> str:
    metrics = report["metrics"]
    judges = "".join(f'<li>{E(j["label"])}: {E(j["backend"])} / {E(j["judge_model"])}, rubric '
                     f'{E(j["rubric_version"])}, {j["judged"]} judged, {j["errors"]} errors, '
                     f'{j["cached"]} from cache</li>' for j in report["judges"])
    overall = metrics["overall"]
    parts = [
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<title>MIS evaluation: {E(report["model"])}</title><style>{STYLE}</style></head><body>',
        f'<h1>MIS evaluation: {E(report["model"])}</h1>',
        f'<p id="summary">{report["samples"]} samples, {report["responses"]} responses, '
        f'{report["generation_errors"]} generation errors. Overall ASR '
        f'<b id="overall-asr">{overall["ASR"]["value"]:.2f}%</b>, RSR '
        f'{overall["RSR"]["value"]:.2f}%, RR {overall["RR"]["value"]:.2f}%, HR '
        f'{overall["HR"]["value"]:.2f}% over {overall["judged"]} judged responses '
        f'({overall["errors"]} errors). Intervals are 95% Wilson intervals.</p>',
        f'<ul id="judges">{judges}</ul>',
        baseline_note(report),
        "<h2>Per split</h2>", metrics_table(metrics["by_split"], "per-split", "split"),
        "<h2>Per category</h2>", legend(), stacked_bars(metrics["by_category"], "category-bars"),
        metrics_table(metrics["by_category"], "per-category", "category"),
        "<h2>Per sub-category</h2>",
        metrics_table(metrics["by_sub_category"], "per-sub-category", "sub-category"),
    ]
    agreement = report.get("agreement")
    if agreement:
        kappa = agreement["kappa"]
        parts.append(f'<h2>Judge agreement</h2><p id="kappa">Cohen\'s kappa between '
                     f'{E(agreement["judges"][0])} and {E(agreement["judges"][1])}: '
                     f'{"undefined" if kappa is None else f"{kappa:.3f}"} over '
                     f'{agreement["items"]} items.</p>')
    parts += ["<h2>Examples</h2>", examples_html(report, base), "</body></html>"]
    return "".join(parts)


def baseline_note(report: dict) -> str:
    primary = next((j for j in report["judges"] if j["label"] == report["primary_judge"]), {})
    if primary.get("backend") != "keyword":
        return ""
    return ('<p id="baseline-note"><b>Keyword baseline:</b> safety comes from refusal phrases '
            'and perception is not judged, so only ASR (and Safe Rate) compare with the rubric '
            'judge; RSR and HR are 0 by construction and RR is 100 - ASR.</p>')


def write_html(report: dict, path: Path) -> None:
    path.write_text(render_html(report, path.parent))


def render_comparison(first: dict, second: dict) -> str:
    """Two runs side by side: each metric per split and category, with the change."""
    names = (first["model"] or "A", second["model"] or "B")

    def section(title: str, key: str, table_id: str) -> str:
        groups = sorted(set(first["metrics"][key]) | set(second["metrics"][key]))
        head = "".join(f"<th>{m} {E(names[0])}</th><th>{m} {E(names[1])}</th><th>change</th>"
                       for m in ("ASR", "RSR", "RR", "HR"))
        rows = []
        for group in groups:
            a = first["metrics"][key].get(group)
            b = second["metrics"][key].get(group)
            cells = []
            for metric in ("ASR", "RSR", "RR", "HR"):
                va = a[metric]["value"] if a else None
                vb = b[metric]["value"] if b else None
                change = "" if va is None or vb is None else f"{vb - va:+.2f}"
                css = ""
                # Lower ASR and higher RSR are improvements; RR and HR are shown plain.
                if change and abs(vb - va) >= 0.005 and metric in ("ASR", "RSR"):
                    improved = vb < va if metric == "ASR" else vb > va
                    css = "better" if improved else "worse"
                cells.append(f"<td>{'' if va is None else f'{va:.2f}'}</td>"
                             f"<td>{'' if vb is None else f'{vb:.2f}'}</td>"
                             f'<td class="{css}">{change}</td>')
            rows.append(f"<tr><td>{E(group)}</td>{''.join(cells)}</tr>")
        return (f"<h2>{title}</h2><table id=\"{table_id}\"><tr><th>{title.split()[-1]}</th>"
                f"{head}</tr>{''.join(rows)}</table>")

    def paired_bars() -> str:
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

    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>MIS comparison: '
            f'{E(names[0])} vs {E(names[1])}</title><style>{STYLE}</style></head><body>'
            f'<h1>MIS comparison: {E(names[0])} vs {E(names[1])}</h1>'
            f'<p>Grey: {E(names[0])}; red: {E(names[1])}. ASR per category (lower is better).</p>'
            f'{paired_bars()}{section("Per split", "by_split", "compare-split")}'
            f'{section("Per category", "by_category", "compare-category")}</body></html>')
