"""The dataset card as Markdown (README.md beside card.json), in the shape the
Hugging Face Hub reads: YAML front matter with the license, the task
categories and one `default` config whose data files name the Parquet file
of every split the dataset has (so `datasets.load_dataset(<folder>)` gives
the splits), then a content warning, what the dataset is, its counts, the
models and prompt versions behind it, what the run cost per stage and per
model, the run's configuration and the layout.

The license is the export's default, `DEFAULT_LICENSE`, unless the card
names another: the samples are model-made red-teaming material, for
research; change it to what your seeds' licenses allow.
"""

from __future__ import annotations

import yaml

DEFAULT_LICENSE = "cc-by-nc-4.0"
TASK_CATEGORIES = ["visual-question-answering", "image-text-to-text"]
CONTENT_WARNING = ("This dataset contains harmful instructions and images made to red-team "
                   "vision-language models (violence, crime, self-harm, hate, privacy, erotic content). "
                   "It is meant for safety research and fine-tuning; do not use it to cause harm.")


def parquet_path(split: str) -> str:
    """Where a split's Parquet file lies in the dataset folder (the front matter names it)."""
    return f"parquet/{split}.parquet"


def _size_category(total: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if total < limit:
            return name
    return "100K<n<1M"


def front_matter(card: dict) -> dict:
    """The Hub's metadata: a config per dataset with a data file per split."""
    splits = list(card.get("per_split", {}))
    return {
        "pretty_name": f"{card.get('name', 'MIS dataset')} {card.get('version', '')}".strip(),
        "license": card.get("license", DEFAULT_LICENSE),
        "language": ["en"],
        "task_categories": TASK_CATEGORIES,
        "tags": ["safety", "multi-image", "red-teaming", "chain-of-thought"],
        "size_categories": [_size_category(card.get("total", 0))],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": split, "path": parquet_path(split)} for split in splits]}],
    }


def _cost_lines(cost: dict) -> list[str]:
    lines = ["", "## Cost", "", "| | |", "|---|---|",
             f"| prompt tokens | {cost.get('prompt_tokens', 0)} |",
             f"| completion tokens | {cost.get('completion_tokens', 0)} |",
             f"| GPU-seconds | {cost.get('gpu_seconds', 0.0):.1f} |"]
    columns = "| {} | {} | {} | {} | {} | {:.1f} | {:.1f} |"
    if cost.get("per_stage"):
        lines += ["", "Per stage (every call of the run, rejected work included):", "",
                  "| stage | calls | attempts | prompt tokens | completion tokens | model seconds | GPU-seconds |",
                  "|---|---|---|---|---|---|---|"]
        lines += [columns.format(stage, c["calls"], c["attempts"], c["prompt_tokens"], c["completion_tokens"],
                                 c["latency_seconds"], c["gpu_seconds"]) for stage, c in cost["per_stage"].items()]
    if cost.get("per_model"):
        lines += ["", "Per model:", "",
                  "| stage / backend / model | calls | attempts | prompt tokens | completion tokens | "
                  "model seconds | GPU-seconds |", "|---|---|---|---|---|---|---|"]
        lines += [columns.format(f"{c['stage']} / {c['backend']} / {c['model']}", c["calls"], c["attempts"],
                                 c["prompt_tokens"], c["completion_tokens"], c["latency_seconds"],
                                 c["gpu_seconds"]) for c in cost["per_model"]]
    return lines


def render_card(card: dict) -> str:
    """The dataset card as Markdown with its front matter."""
    lines = ["---", yaml.safe_dump(front_matter(card), sort_keys=False, allow_unicode=True).rstrip(), "---", "",
             f"# {card.get('name', 'MIS dataset')} {card.get('version', '')}".rstrip(), "",
             f"> **Content warning.** {CONTENT_WARNING}", ""]
    if card.get("description"):
        lines += [card["description"], ""]
    lines += ["| | |", "|---|---|"]
    for key in ("run_id", "created_at", "taxonomy_version", "source"):
        if card.get(key):
            lines.append(f"| {key.replace('_', ' ')} | {card[key]} |")
    lines += [f"| samples | {card.get('total', 0)} |", ""]
    lines += ["## Samples per split", "", "| split | samples |", "|---|---|"]
    lines += [f"| {s} | {n} |" for s, n in card.get("per_split", {}).items()]
    lines += ["", "## Samples per category and sub-category", "",
              "| split | category / sub-category | samples |", "|---|---|---|"]
    for split, items in card.get("per_sub_category", {}).items():
        lines += [f"| {split} | {name} | {n} |" for name, n in items.items()]
    if card.get("set_aside"):
        lines += ["", "## Left out (browsable under `rejected/`)", "", "| why | samples |", "|---|---|"]
        lines += [f"| {kind} | {n} |" for kind, n in card["set_aside"].items()]
    models = card.get("models", [])
    if models:
        lines += ["", "## Models and prompt versions", "",
                  "| stage | backend | model | prompt version |", "|---|---|---|---|"]
        lines += [f"| {m['stage']} | {m['backend']} | {m['model']} | {m['prompt_version']} |"
                  for m in models]
    if card.get("cost"):
        lines += _cost_lines(card["cost"])
    if card.get("run_config"):
        lines += ["", "## Run configuration", "", "```yaml",
                  yaml.safe_dump(card["run_config"], sort_keys=False, allow_unicode=True).rstrip(), "```"]
    lines += ["", "## Layout", "",
              "- `parquet/<split>.parquet`: every field a column, images as `Image`; "
              "`datasets.load_dataset(\"<this folder>\")` gives the splits",
              "- `mis_<split>.json`: MIS_Test records; images in `<split>_image/<n>/object1.png`, `object2.png`",
              "- `train/train.json`: ShareGPT conversation records with an image list; images in `train/images/<id>/`",
              "- `train/dataset_info.json` (LLaMA-Factory), `train/internvl_meta.json` with "
              "`train/internvl_train.jsonl` (InternVL), `train/swift_train.jsonl` (ms-swift)",
              "- `samples.jsonl`: every sample with its filter reason, CoT label and provenance",
              "- `rejected/rejected.jsonl`: the samples left out, with why, and their images", ""]
    return "\n".join(lines)
