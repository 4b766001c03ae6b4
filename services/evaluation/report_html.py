"""The HTML page of one evaluation report: banners, per-category stacked bars
with the ASR's 95% interval as a whisker, the per-split, split x category and
sub-category tables, the judge-agreement confusion table, token totals and
examples of each class with their images embedded. Self-contained: no
scripts, no network."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from PIL import Image

from services.evaluation.rates import CLASSES, METRIC_OF_CLASS

COLOURS = {"UNSAFE": "#d62728", "SAFE_WITH_REASONING": "#2ca02c",
           "SAFE_WITH_REFUSAL": "#1f77b4", "HALLUCINATION": "#ff7f0e"}

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
.banner{background:#fff3cd;border:1px solid #e0c060;padding:8px 12px;font-weight:600}
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
        parts.append(whisker(metrics["ASR"], label_width, width, y, bar_height))
        parts.append(f'<text x="{label_width + width + 6}" y="{y + 15}" font-size="11">'
                     f'n={metrics["judged"]}</text>')
    parts.append("</svg>")
    return "".join(parts)


def whisker(asr: dict, left: int, width: int, y: int, bar_height: int) -> str:
    """The ASR's 95% interval drawn across the bar (the UNSAFE segment starts at `left`)."""
    low, high = left + asr["low"] / 100 * width, left + asr["high"] / 100 * width
    mid, top, bottom = y + bar_height / 2, y + 4, y + bar_height - 4
    return (f'<g class="whisker"><title>ASR 95% interval [{asr["low"]:.1f}, {asr["high"]:.1f}]'
            f'</title><line x1="{low:.1f}" y1="{mid}" x2="{high:.1f}" y2="{mid}" stroke="#000"/>'
            f'<line x1="{low:.1f}" y1="{top}" x2="{low:.1f}" y2="{bottom}" stroke="#000"/>'
            f'<line x1="{high:.1f}" y1="{top}" x2="{high:.1f}" y2="{bottom}" stroke="#000"/></g>')


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
    overall = metrics["overall"]
    parts = [
        f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<title>MIS evaluation: {E(report["model"])}</title><style>{STYLE}</style></head><body>',
        f'<h1>MIS evaluation: {E(report["model"])}</h1>',
        "".join(f'<p class="banner">{E(line)}</p>' for line in report.get("banners", [])),
        f'<p id="summary">{report["samples"]} samples, {report["responses"]} responses '
        f'({report.get("empty_responses", 0)} empty, judged like the others), '
        f'{report["generation_errors"]} generation errors. Overall ASR '
        f'<b id="overall-asr">{overall["ASR"]["value"]:.2f}%</b>, RSR '
        f'{overall["RSR"]["value"]:.2f}%, RR {overall["RR"]["value"]:.2f}%, HR '
        f'{overall["HR"]["value"]:.2f}% over {overall["judged"]} judged responses '
        f'({overall["errors"]} errors). Intervals are 95% Wilson intervals.</p>',
        run_facts(report), baseline_note(report),
        "<h2>Per split</h2>", metrics_table(metrics["by_split"], "per-split", "split"),
        "<h2>Per category</h2>", legend(), stacked_bars(metrics["by_category"], "category-bars"),
        '<p class="ci">Whiskers: the ASR\'s 95% interval.</p>',
        metrics_table(metrics["by_category"], "per-category", "category"),
        "<h2>Per split and category</h2>",
        metrics_table(metrics["by_split_category"], "per-split-category", "split / category"),
        "<h2>Per sub-category</h2>",
        metrics_table(metrics["by_sub_category"], "per-sub-category", "sub-category"),
        agreement_html(report.get("agreement")), beside_html(report.get("beside") or {}),
        "<h2>Examples</h2>", examples_html(report, base), "</body></html>",
    ]
    return "".join(parts)


def run_facts(report: dict) -> str:
    """Who was judged how: candidate settings, dataset, judges, tokens."""
    judges = "".join(f'<li>{E(j["label"])}: {E(j["backend"])} / {E(j["judge_model"])}, rubric '
                     f'{E(j["rubric_version"])}, images sent: {E(str(j.get("images_sent")))}, '
                     f'{j["judged"]} judged, {j["errors"]} errors, {j["cached"]} from cache</li>'
                     for j in report["judges"])
    candidate = report.get("candidate") or {}
    dataset = report.get("dataset") or {}
    settings = ", ".join(f"{k}={candidate.get(k)!r}" for k in
                         ("base_url", "max_tokens", "temperature", "layout", "text_only")
                         if k in candidate)
    tokens = report.get("tokens", {})
    token_rows = "".join(f"<tr><td>{E(k.replace('_', ' '))}</td><td>{v}</td></tr>"
                         for k, v in tokens.items())
    return (f'<ul id="run-facts"><li>candidate: {E(str(candidate.get("model", report["model"])))}'
            f' ({E(settings)})</li><li id="prompt-layout">prompt layout: '
            f'{E(str(candidate.get("layout", "unrecorded")))} '
            f'<code>{E(repr(candidate.get("layout_template", "")))}</code></li>'
            f'<li>dataset: {E(str(dataset.get("hash", "unrecorded"))[:16])}, splits '
            f'{E(", ".join(dataset.get("splits", [])))}</li>'
            f'<li>platform {E(report.get("platform_version", ""))}</li></ul>'
            f'<ul id="judges">{judges}</ul>'
            f'<table id="tokens"><tr><th>tokens</th><th>total</th></tr>{token_rows}</table>')


def agreement_html(agreement: dict | None) -> str:
    if not agreement:
        return ""
    first, second = agreement["judges"][0], agreement["judges"][1]
    kappa = agreement["kappa"]
    head = "".join(f"<th>{E(second)}: {METRIC_OF_CLASS[c]}</th>" for c in CLASSES)
    rows = "".join(
        f"<tr><td>{E(first)}: {METRIC_OF_CLASS[a]}</td>"
        + "".join(f"<td>{agreement['confusion'][a][b]}</td>" for b in CLASSES) + "</tr>"
        for a in CLASSES)
    return (f'<h2>Judge agreement</h2><p id="kappa">Cohen\'s kappa between {E(first)} and '
            f'{E(second)}: {"undefined" if kappa is None else f"{kappa:.3f}"} over '
            f'{agreement["items"]} items.</p><table id="confusion"><tr><th>rows: {E(first)}, '
            f'columns: {E(second)}</th>{head}</tr>{rows}</table>')


def beside_html(beside: dict) -> str:
    """The model's other benchmarks and general average (`model_table.beside_mis`)."""
    if beside.get("problem"):
        return f'<h2>Other benchmarks</h2><p class="banner warning">{E(beside["problem"])}</p>'
    rows = "".join(
        f'<tr><td>{E(b["title"])}</td><td>{E(b["metric"])} '
        f'{"(lower is better)" if b["lower_is_better"] else "(higher is better)"}</td>'
        f'<td>{b["value"]:.2f} <span class="ci">[{b["low"]:.1f}, {b["high"]:.1f}]</span></td>'
        f'<td>{b["judged"]}</td><td>{b["errors"]}</td></tr>'
        for b in beside.get("benchmarks", {}).values() if b.get("value") is not None)
    general = beside.get("general")
    if general:
        rows += (f'<tr><td>General (lmms-eval {E(str(general["lmms_eval_version"]))})</td>'
                 f'<td>average of {len(general["tasks"])} tasks</td>'
                 f'<td>{general["average"]:.2f}</td><td></td><td></td></tr>')
    if not rows:
        return ""
    return ('<h2>Other benchmarks</h2><table id="beside"><tr><th>benchmark</th><th>metric</th>'
            f'<th>value (95% CI)</th><th>judged</th><th>errors</th></tr>{rows}</table>')


def baseline_note(report: dict) -> str:
    primary = next((j for j in report["judges"] if j["label"] == report["primary_judge"]), {})
    if primary.get("backend") != "keyword":
        return ""
    return ('<p id="baseline-note"><b>Keyword baseline:</b> safety comes from refusal phrases '
            'and perception is not judged, so only ASR (and Safe Rate) compare with the rubric '
            'judge; RSR and HR are 0 by construction and RR is 100 - ASR.</p>')
