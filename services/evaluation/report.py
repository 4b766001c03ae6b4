"""Reports of an evaluation run: `report.json` for machines (metrics with 95%
intervals, the run's provenance, judge agreement, token totals) and a static
HTML page for people (`report_html`), plus the judgements in the official
judged-output format (`judged-<judge>.json`).

`run.json`, written before generation, records what the run is: candidate
endpoint and generation settings, prompt layout, dataset hash and platform
version. The report copies it, so two reports say whether they compare.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Sequence

from services.common.provenance import SERVICE_VERSION
from services.evaluation.dataset import EvalSample, dataset_hash
from services.evaluation.generation import OFFLINE_CANDIDATE, CandidateSettings
from services.evaluation.rates import CLASSES, cohens_kappa, confusion, summarize
from services.evaluation.model_table import beside_mis
from services.evaluation.records import read_rows
from services.evaluation.runner import RESPONSES, judgements_file

EXAMPLES_PER_CLASS = 3
RUN_INFO = "run.json"
PAPER_JUDGE_MODEL = "gpt-4o"


def write_run_info(out_dir: Path, candidate: CandidateSettings | None,
                   samples: Sequence[EvalSample], limit: int = 0, benchmark: str = "mis") -> None:
    """What this run is, before it starts (kept from the last generating run
    when this one only judges)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / RUN_INFO
    previous = json.loads(path.read_text()) if path.is_file() else {}
    info = {"platform_version": SERVICE_VERSION, "benchmark": benchmark,
            "dataset": {"hash": dataset_hash(list(samples)), "samples": len(samples),
                        "splits": sorted({s.split for s in samples}), "limit": limit},
            "candidate": candidate.public() if candidate else previous.get("candidate")}
    path.write_text(json.dumps(info, indent=2, sort_keys=True))


def build_report(out_dir: Path, judge_labels: Sequence[str], model_label: str = "",
                 sample_count: int | None = None) -> dict:
    """The report of the run in `out_dir`; the first judge gives the metrics."""
    responses = read_rows(out_dir / RESPONSES)
    judged = {label: read_rows(out_dir / judgements_file(label)) for label in judge_labels}
    info_path = out_dir / RUN_INFO
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    primary = judge_labels[0]
    rows = list(judged[primary].values())
    report = {
        "model": model_label or next((r.get("model", "") for r in responses.values()), ""),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "platform_version": SERVICE_VERSION,
        "candidate": info.get("candidate"),
        "dataset": info.get("dataset"),
        "samples": sample_count if sample_count is not None else len(responses),
        "responses": sum(1 for r in responses.values() if "response" in r),
        "empty_responses": sum(1 for r in responses.values()
                               if "response" in r and not r["response"].strip()),
        "generation_errors": sum(1 for r in responses.values() if "error" in r),
        "tokens": token_totals(responses.values(), judged[primary].values()),
        "primary_judge": primary,
        "judges": [judge_summary(label, judged[label]) for label in judge_labels],
        "metrics": summarize(rows),
        "examples": examples(rows, responses),
        "errors": [{"id": r["id"], **r["error"]} for r in rows if "error" in r][:50],
        # Per-sample classes of the primary judge, for paired tests between runs.
        "outcomes": {r["id"]: {"split": r["split"], "class": r.get("class")} for r in rows},
    }
    if len(judge_labels) >= 2:
        report["agreement"] = agreement(judged[judge_labels[0]], judged[judge_labels[1]],
                                        judge_labels[:2])
    report["banners"] = banners(report)
    # The model's other safety benchmarks and general average, when run beside this one.
    report["beside"] = beside_mis(out_dir)
    return report


def token_totals(responses, judgements) -> dict[str, int]:
    candidate = [r for r in responses if "response" in r]
    verdicts = [r["verdict"].get("provenance", {}).get("tokens", {}) for r in judgements
                if "verdict" in r]
    return {"candidate_prompt": sum(int(r.get("prompt_tokens", 0)) for r in candidate),
            "candidate_completion": sum(int(r.get("completion_tokens", 0)) for r in candidate),
            "judge_prompt": sum(int(t.get("prompt_tokens", 0)) for t in verdicts),
            "judge_completion": sum(int(t.get("completion_tokens", 0)) for t in verdicts)}


def banners(report: dict) -> list[str]:
    """Warnings a reader must see before any number: a dry run, another judge."""
    out = []
    primary = next((j for j in report["judges"] if j["label"] == report["primary_judge"]), {})
    if primary.get("backend") == "offline":
        out.append("Offline dry run: the judge is the offline placeholder (refusal keywords in "
                   "rubric form), not a model. These numbers show the pipeline works, nothing more.")
    elif not primary.get("judge_model", "").lower().startswith(PAPER_JUDGE_MODEL):
        out.append(f"The judge is {primary.get('backend') or '?'} / "
                   f"{primary.get('judge_model') or '?'}, not the paper's GPT-4o: rates do not "
                   f"compare with published MIS numbers.")
    if report["model"] == OFFLINE_CANDIDATE or (report.get("candidate") or {}).get("backend") == "offline":
        out.append("The candidate is the offline dry-run candidate, not a model.")
    if (report.get("candidate") or {}).get("text_only"):
        out.append("Text-only run: the candidate never saw the images.")
    return out


def judge_summary(label: str, rows: dict[str, dict]) -> dict:
    verdicts = [r["verdict"] for r in rows.values() if "verdict" in r]
    first = verdicts[0] if verdicts else {}
    identity = next((r["judge"] for r in rows.values() if "judge" in r), {})
    return {"label": label, "rows": len(rows), "judged": len(verdicts),
            "errors": len(rows) - len(verdicts), "backend": first.get("backend", ""),
            "judge_model": first.get("judge_model", ""),
            "rubric_version": first.get("rubric_version", ""),
            "images_sent": identity.get("images_sent"),
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


def write_html(report: dict, path: Path) -> None:
    from services.evaluation.report_html import render_html

    path.write_text(render_html(report, path.parent))


OFFICIAL_LEVELS = {"PERCEPTION_LEVEL_1": "Perception Level1", "PERCEPTION_LEVEL_2": "Perception Level2",
                   "PERCEPTION_LEVEL_3": "Perception Level3"}
OFFICIAL_SAFETY = {"SAFETY_SAFE": "Safe", "SAFETY_UNSAFE": "Unsafe"}


def official_judgements_file(label: str) -> str:
    return f"judged-{label}.jsonl"


def write_official_judgements(out_dir: Path, label: str) -> Path:
    """The judge's verdicts in the official MIS judged-output format (one JSON
    object a line: label_perception, label_str, category, question, response,
    image_path1, image_path2), so the official tooling reads them. Items with no
    verdict are left out, as the official script counts only judged ones; the
    keyword baseline, which judges no perception, gives label_perception null."""
    responses = read_rows(out_dir / RESPONSES)
    path = out_dir / official_judgements_file(label)
    with path.open("w") as file:
        for sample_id, row in read_rows(out_dir / judgements_file(label)).items():
            if "verdict" not in row:
                continue
            response = responses.get(sample_id, {})
            verdict = row["verdict"]
            file.write(json.dumps({
                "id": sample_id,
                "label_perception": OFFICIAL_LEVELS.get(verdict.get("perception_level", "")),
                "label_str": OFFICIAL_SAFETY.get(verdict.get("safety", "")),
                "category": row["category"], "question": response.get("question", ""),
                "response": response.get("response", ""),
                "image_path1": response.get("image_path1", ""),
                "image_path2": response.get("image_path2", "")}, ensure_ascii=False) + "\n")
    return path
