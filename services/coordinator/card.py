"""The dataset card as Markdown (README.md beside card.json): what the
dataset is, its counts, the models and prompt versions behind it, its cost
and its layout."""

from __future__ import annotations


def render_card(card: dict) -> str:
    """The dataset card as Markdown."""
    lines = [f"# {card.get('name', 'MIS dataset')} {card.get('version', '')}".rstrip(), ""]
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
    models = card.get("models", [])
    if models:
        lines += ["", "## Models and prompt versions", "",
                  "| stage | backend | model | prompt version |", "|---|---|---|---|"]
        lines += [f"| {m['stage']} | {m['backend']} | {m['model']} | {m['prompt_version']} |"
                  for m in models]
    cost = card.get("cost")
    if cost:
        lines += ["", "## Cost", "", "| | |", "|---|---|",
                  f"| prompt tokens | {cost.get('prompt_tokens', 0)} |",
                  f"| completion tokens | {cost.get('completion_tokens', 0)} |",
                  f"| GPU-seconds | {cost.get('gpu_seconds', 0.0):.1f} |"]
    lines += ["", "## Layout", "",
              "- `mis_easy.json`, `mis_hard.json`: MIS_Test records; images in `<split>_image/<n>/object1.png`, `object2.png`",
              "- `train/train.json`: conversation records with an image list; images in `train/images/<id>/`",
              "- `parquet/<split>.parquet`: `datasets.load_dataset(\"parquet\", data_files=...)`",
              "- `samples.jsonl`: every sample with its filter reason and CoT label", ""]
    return "\n".join(lines)
