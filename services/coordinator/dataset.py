"""Writing a dataset tree from records, the layout the trainer and the
evaluation scripts read:

    <root>/easy.json, hard.json        MIS_Test records (question, category,
                                       sub_category, image_path1, image_path2, id)
    <root>/<split>_image/<n>/object1.png, object2.png
    <root>/train/train.json            conversation records with an image list
    <root>/train/images/<id>/object1.png, object2.png
    <root>/parquet/<split>.parquet     loadable with `datasets` (images as Image)
    <root>/samples.jsonl               every record with its labels (the browser's source)
    <root>/README.md, card.json        the dataset card

The same tree is uploaded under datasets/<name>/<version>/ in the store.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from services.coordinator.records import DatasetRecord, as_png

log = logging.getLogger("mis.coordinator.dataset")

TEST_SPLITS = ("easy", "hard", "real")


@dataclass
class WrittenDataset:
    root: Path
    per_split: dict[str, int]
    files: list[Path]


def _write(path: Path, data: bytes, files: list[Path]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    files.append(path)


def _dump(value: object) -> bytes:
    return (json.dumps(value, indent=1, ensure_ascii=False) + "\n").encode()


def write_tree(records: Iterable[DatasetRecord], root: Path, card: dict) -> WrittenDataset:
    """Write every file of the layout under `root` (the card gets the counts)."""
    root.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    by_split: dict[str, list[dict]] = {}
    train: list[dict] = []
    rows: dict[str, list[dict]] = {}
    browser_rows: list[dict] = []
    for record in records:
        image1, image2 = as_png(record.image1()), as_png(record.image2())
        if record.split == "train":
            folder = f"images/{record.id}"
            _write(root / "train" / folder / "object1.png", image1, files)
            _write(root / "train" / folder / "object2.png", image2, files)
            paths = [f"train/{folder}/object1.png", f"train/{folder}/object2.png"]
            train.append({
                "id": record.id,
                "images": [f"{folder}/object1.png", f"{folder}/object2.png"],
                "conversations": [
                    {"from": "human", "value": f"<image>\n<image>\n{record.instruction}"},
                    {"from": "gpt", "value": record.cot_label}],
                "category": record.category, "sub_category": record.sub_category})
        else:
            entries = by_split.setdefault(record.split, [])
            number = len(entries) + 1
            folder = f"{record.split}_image/{number}"
            _write(root / folder / "object1.png", image1, files)
            _write(root / folder / "object2.png", image2, files)
            paths = [f"{folder}/object1.png", f"{folder}/object2.png"]
            entries.append({"question": record.instruction, "category": record.category,
                            "sub_category": record.sub_category, "image_path1": paths[0],
                            "image_path2": paths[1], "id": number})
        rows.setdefault(record.split, []).append({
            "id": record.id, "instruction": record.instruction, "category": record.category,
            "sub_category": record.sub_category, "cot_label": record.cot_label,
            "image1": {"bytes": image1, "path": paths[0]},
            "image2": {"bytes": image2, "path": paths[1]}})
        browser_rows.append({
            "id": record.id, "split": record.split, "instruction": record.instruction,
            "harmful_query": record.harmful_query, "category": record.category,
            "sub_category": record.sub_category, "filter_reason": record.filter_reason,
            "cot_label": record.cot_label, "image_path1": paths[0], "image_path2": paths[1],
            "seed_id": record.seed_id, "prompt1": record.prompt1, "prompt2": record.prompt2})
    for split, entries in by_split.items():
        _write(root / f"{split}.json", _dump(entries), files)
    if train:
        _write(root / "train" / "train.json", _dump(train), files)
    per_split = {split: len(items) for split, items in rows.items()}
    _write(root / "samples.jsonl",
           "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in browser_rows).encode(), files)
    files += write_parquet(rows, root / "parquet")
    card = {**card, **counts(browser_rows)}
    _write(root / "card.json", _dump(card), files)
    _write(root / "README.md", render_card(card).encode(), files)
    return WrittenDataset(root, per_split, files)


def counts(rows: list[dict]) -> dict:
    per_split = Counter(r["split"] for r in rows)
    per_category: dict[str, Counter] = {}
    per_sub: dict[str, Counter] = {}
    for r in rows:
        per_category.setdefault(r["split"], Counter())[r["category"]] += 1
        per_sub.setdefault(r["split"], Counter())[f"{r['category']} / {r['sub_category']}"] += 1
    return {"total": len(rows), "per_split": dict(sorted(per_split.items())),
            "per_category": {s: dict(sorted(c.items())) for s, c in sorted(per_category.items())},
            "per_sub_category": {s: dict(sorted(c.items())) for s, c in sorted(per_sub.items())}}


def write_parquet(rows: dict[str, list[dict]], folder: Path) -> list[Path]:
    """One Parquet file per split with the `datasets` feature metadata, so
    `load_dataset("parquet", ...)` decodes the image columns as images.
    Skipped with a note when pyarrow (extra "data") is not installed."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        log.warning("pyarrow is not installed (pip install 'mis-platform[data]'): "
                    "the Parquet export is skipped")
        return []
    features = {name: {"dtype": "string", "_type": "Value"}
                for name in ("id", "instruction", "category", "sub_category", "cot_label")}
    features.update({"image1": {"_type": "Image"}, "image2": {"_type": "Image"}})
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    schema = pa.schema([(name, pa.string()) for name in
                        ("id", "instruction", "category", "sub_category", "cot_label")]
                       + [("image1", image), ("image2", image)],
                       metadata={"huggingface": json.dumps({"info": {"features": features}})})
    written = []
    folder.mkdir(parents=True, exist_ok=True)
    for split, items in rows.items():
        table = pa.Table.from_pylist(items, schema=schema)
        path = folder / f"{split}.parquet"
        pq.write_table(table, path)
        written.append(path)
    return written


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
              "- `easy.json`, `hard.json`: MIS_Test records; images in `<split>_image/<n>/object1.png`, `object2.png`",
              "- `train/train.json`: conversation records with an image list; images in `train/images/<id>/`",
              "- `parquet/<split>.parquet`: `datasets.load_dataset(\"parquet\", data_files=...)`",
              "- `samples.jsonl`: every sample with its filter reason and CoT label", ""]
    return "\n".join(lines)
