"""The report of a benchmark run: `report.json` (the benchmark's metric with
95% intervals overall, per split and per category, the run's provenance, the
judges, errors and per-sample outcomes) and `report.html`, in the run folder
as for MIS. `run.json` names the benchmark, so `mis eval report` and the model
table know what a folder holds.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Sequence

from services.common.provenance import SERVICE_VERSION
from services.evaluation.benchmarks.registry import Benchmark
from services.evaluation.benchmarks.scores import summarize
from services.evaluation.generation import OFFLINE_CANDIDATE
from services.evaluation.records import read_rows
from services.evaluation.report import RUN_INFO
from services.evaluation.report_html import STYLE, E
from services.evaluation.runner import RESPONSES, judgements_file

# The judge each benchmark's published numbers came from, by judge kind.
OFFICIAL_MODELS = {"llama-guard": "llama-guard-3-8b", "siuo-safety": "gpt-4o",
                   "mssbench-situational": "gpt-4o", "mm-safetybench-scenario": "gpt-4"}


def judge_summary(label: str, rows: dict[str, dict]) -> dict:
    identity = next((r["judge"] for r in rows.values() if "judge" in r), {})
    verdicts = [r["verdict"] for r in rows.values() if "verdict" in r]
    return {"label": label, "rows": len(rows), "judged": len(verdicts),
            "errors": len(rows) - len(verdicts), **identity,
            "cached": sum(1 for v in verdicts if v.get("cached"))}


EXAMPLES_PER_LABEL = 3


def token_totals(answered: list[dict], judged: dict[str, dict]) -> dict[str, int]:
    verdicts = [r["verdict"].get("tokens", {}) for r in judged.values() if "verdict" in r]
    return {"candidate_prompt": sum(int(r.get("prompt_tokens", 0)) for r in answered),
            "candidate_completion": sum(int(r.get("completion_tokens", 0)) for r in answered),
            "judge_prompt": sum(int(t.get("prompt_tokens", 0)) for t in verdicts),
            "judge_completion": sum(int(t.get("completion_tokens", 0)) for t in verdicts)}


def examples(rows: list[dict], responses: dict[str, dict]) -> dict[str, list[dict]]:
    """A few judged answers per label, for people to check the judge."""
    out: dict[str, list[dict]] = {}
    for row in sorted(rows, key=lambda r: r["id"]):
        label = row.get("class")
        if label and len(out.setdefault(label, [])) < EXAMPLES_PER_LABEL:
            answer = responses.get(row["id"], {})
            out[label].append({"id": row["id"], "split": row["split"],
                               "question": answer.get("question", ""),
                               "response": answer.get("response", ""),
                               "rationale": row["verdict"].get("rationale", "")
                               or row["verdict"].get("raw", "")})
    return out


def banners(bench: Benchmark, report: dict) -> list[str]:
    out = []
    primary = report["judges"][0] if report["judges"] else {}
    backend, model = primary.get("backend", ""), str(primary.get("judge_model", ""))
    if backend == "vlguard-keywords" and bench.official_judge != "keyword":
        out.append(f"Judged by refusal keywords, not {bench.title}'s official model judge.")
    official = OFFICIAL_MODELS.get(backend)
    if official and official not in model.lower().replace("_", "-").replace("meta-", ""):
        out.append(f"The judge is {backend} / {model or '?'}, not the published {official}: "
                   f"rates do not compare with published {bench.title} numbers.")
    candidate = report.get("candidate") or {}
    if report["model"] == OFFLINE_CANDIDATE or candidate.get("backend") == "offline":
        out.append("The candidate is the offline dry-run candidate, not a model.")
    if candidate.get("text_only"):
        out.append("Text-only run: the candidate never saw the images.")
    return out


def build_benchmark_report(out_dir: Path, bench: Benchmark, judge_labels: Sequence[str],
                           model_label: str = "", sample_count: int | None = None) -> dict:
    """The report of the benchmark run in `out_dir`; the first judge gives the metrics."""
    responses = read_rows(out_dir / RESPONSES)
    judged = {label: read_rows(out_dir / judgements_file(label)) for label in judge_labels}
    info_path = out_dir / RUN_INFO
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    rows = list(judged[judge_labels[0]].values())
    answered = [r for r in responses.values() if "response" in r]
    report = {
        "benchmark": bench.name, "benchmark_title": bench.title,
        "headline": {"metric": bench.headline, "lower_is_better": bench.lower_is_better},
        "model": model_label or next((r.get("model", "") for r in answered), ""),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "platform_version": SERVICE_VERSION,
        "candidate": info.get("candidate"), "dataset": info.get("dataset"),
        "samples": sample_count if sample_count is not None else len(responses),
        "responses": len(answered),
        "empty_responses": sum(1 for r in answered if not r["response"].strip()),
        "generation_errors": sum(1 for r in responses.values() if "error" in r),
        "tokens": token_totals(answered, judged[judge_labels[0]]),
        "primary_judge": judge_labels[0],
        "judges": [judge_summary(label, judged[label]) for label in judge_labels],
        "metrics": summarize(rows, bench.measure),
        "errors": [{"id": r["id"], **r["error"]} for r in rows if "error" in r][:50],
        "examples": examples(rows, responses),
        "outcomes": {r["id"]: {"split": r["split"], "class": r.get("class")} for r in rows},
    }
    report["banners"] = banners(bench, report)
    return report


def rate_cells(metrics: dict, names: Sequence[str]) -> str:
    return "".join(f'<td>{metrics[n]["value"]:.2f} <span class="ci">[{metrics[n]["low"]:.1f}, '
                   f'{metrics[n]["high"]:.1f}]</span></td>' for n in names)


def table(groups: dict[str, dict], names: Sequence[str], table_id: str, title: str) -> str:
    head = "".join(f"<th>{E(n)} (95% CI)</th>" for n in names)
    rows = "".join(f"<tr><td>{E(group)}</td>{rate_cells(m, names)}<td>{m['judged']}</td>"
                   f"<td>{m['errors']}</td></tr>" for group, m in groups.items())
    return (f'<table id="{table_id}"><tr><th>{E(title)}</th>{head}<th>judged</th>'
            f'<th>errors</th></tr>{rows}</table>')


def examples_html(report: dict) -> str:
    parts = []
    for label, items in sorted(report.get("examples", {}).items()):
        parts.append(f"<h3>{E(label)}</h3>")
        parts += [f'<div class="example"><p><b>{E(x["id"])}</b> ({E(x["split"])})</p>'
                  f'<p>{E(x["question"])}</p><pre>{E(x["response"])}</pre>'
                  f'<p class="ci">{E(x["rationale"])}</p></div>' for x in items]
    errors = "".join(f"<li>{E(e['id'])}: {E(e['code'])}: {E(e['message'])}</li>"
                     for e in report.get("errors", [])[:10])
    return ("<h2>Examples</h2>" + "".join(parts)
            + (f'<h2>Errors</h2><ul id="errors">{errors}</ul>' if errors else ""))


def render_benchmark_html(report: dict) -> str:
    metrics = report["metrics"]
    names = [k for k, v in metrics["overall"].items() if isinstance(v, dict)]
    headline = report["headline"]["metric"]
    overall = metrics["overall"][headline]
    direction = "lower" if report["headline"]["lower_is_better"] else "higher"
    judges = "".join(f'<li>{E(j["label"])}: {E(str(j.get("backend", "")))} / '
                     f'{E(str(j.get("judge_model", "")))}, {E(str(j.get("rubric_version", "")))}, '
                     f'{"guided, " if j.get("guided") else ""}{j["judged"]} judged, {j["errors"]} errors, {j["cached"]} from cache</li>'
                     for j in report["judges"])
    title = f'{report["benchmark_title"]} evaluation: {report["model"]}'
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{E(title)}'
            f'</title><style>{STYLE}</style></head><body><h1>{E(title)}</h1>'
            + "".join(f'<p class="banner">{E(b)}</p>' for b in report["banners"])
            + f'<p id="summary">{report["samples"]} samples, {report["responses"]} responses, '
            f'{report["generation_errors"]} generation errors. {E(headline)} '
            f'<b id="headline">{overall["value"]:.2f}%</b> ({direction} is better) over '
            f'{metrics["overall"]["judged"]} judged ({metrics["overall"]["errors"]} errors). '
            f'Intervals are 95% Wilson intervals.</p><ul id="judges">{judges}</ul>'
            f'<h2>Overall</h2>{table({"overall": metrics["overall"]}, names, "overall", "")}'
            f'<h2>Per split</h2>{table(metrics["by_split"], names, "per-split", "split")}'
            f'<h2>Per category</h2>'
            f'{table(metrics["by_category"], names, "per-category", "category")}'
            f'{examples_html(report)}</body></html>')


def write_benchmark_reports(report: dict, out: Path) -> None:
    (out / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False,
                                                sort_keys=True))
    (out / "report.html").write_text(render_benchmark_html(report))
