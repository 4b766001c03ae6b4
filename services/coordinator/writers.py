"""The export's formats, one small writer each: every writer is handed each
record with its images already placed in the tree, and writes its own files
at the end. A format is added by adding a writer to `WRITERS`, without
touching the others.

    MisTestSplits     mis_easy.json, mis_hard.json, mis_real.json (the public MIS_Test names)
    TrainConversations train/train.json, the conversation format the trainer reads
    ParquetSplits     parquet/<split>.parquet, loadable with `datasets` (images as Image)
    SampleIndex       samples.jsonl, every record with its labels (the browser's source)
    DatasetCard       card.json and README.md, with the counts
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from services.coordinator.card import render_card
from services.coordinator.records import DatasetRecord

log = logging.getLogger("mis.coordinator.writers")

TEST_SPLITS = ("easy", "hard", "real")
_TEXT_COLUMNS = ("id", "instruction", "category", "sub_category", "cot_label")


@dataclass
class PlacedRecord:
    """A record with its PNG bytes and their paths relative to the dataset root."""

    record: DatasetRecord
    images: tuple[bytes, bytes]
    paths: tuple[str, str]
    number: int               # 1-based position within its split


class Tree(Protocol):
    def write(self, relative: str, data: bytes) -> None: ...


def dump(value: object) -> bytes:
    return (json.dumps(value, indent=1, ensure_ascii=False) + "\n").encode()


class DatasetWriter:
    def add(self, placed: PlacedRecord) -> None:
        raise NotImplementedError

    def finish(self, tree: Tree, card: dict) -> None:
        raise NotImplementedError


class MisTestSplits(DatasetWriter):
    def __init__(self) -> None:
        self.splits: dict[str, list[dict]] = {}

    def add(self, placed: PlacedRecord) -> None:
        record = placed.record
        if record.split == "train":
            return
        self.splits.setdefault(record.split, []).append({
            "question": record.instruction, "category": record.category,
            "sub_category": record.sub_category, "image_path1": placed.paths[0],
            "image_path2": placed.paths[1], "id": placed.number})

    def finish(self, tree: Tree, card: dict) -> None:
        for split, entries in self.splits.items():
            tree.write(f"mis_{split}.json", dump(entries))


class TrainConversations(DatasetWriter):
    def __init__(self) -> None:
        self.entries: list[dict] = []

    def add(self, placed: PlacedRecord) -> None:
        record = placed.record
        if record.split != "train":
            return
        self.entries.append({
            "id": record.id,
            "images": [path.removeprefix("train/") for path in placed.paths],
            "conversations": [
                {"from": "human", "value": f"<image>\n<image>\n{record.instruction}"},
                {"from": "gpt", "value": record.cot_label}],
            "category": record.category, "sub_category": record.sub_category})

    def finish(self, tree: Tree, card: dict) -> None:
        if self.entries:
            tree.write("train/train.json", dump(self.entries))


class ParquetSplits(DatasetWriter):
    """One Parquet file per split with the `datasets` feature metadata, so
    `load_dataset("parquet", ...)` decodes the image columns as images.
    Skipped with a note when pyarrow (extra "data") is not installed."""

    def __init__(self) -> None:
        self.rows: dict[str, list[dict]] = {}

    def add(self, placed: PlacedRecord) -> None:
        record = placed.record
        row = {name: getattr(record, name) for name in _TEXT_COLUMNS}
        for number in (0, 1):
            row[f"image{number + 1}"] = {"bytes": placed.images[number], "path": placed.paths[number]}
        self.rows.setdefault(record.split, []).append(row)

    def finish(self, tree: Tree, card: dict) -> None:
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            log.warning("pyarrow is not installed (pip install 'mis-platform[data]'): "
                        "the Parquet export is skipped")
            return
        import io
        features = {name: {"dtype": "string", "_type": "Value"} for name in _TEXT_COLUMNS}
        features.update({"image1": {"_type": "Image"}, "image2": {"_type": "Image"}})
        image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
        schema = pa.schema([(name, pa.string()) for name in _TEXT_COLUMNS]
                           + [("image1", image), ("image2", image)],
                           metadata={"huggingface": json.dumps({"info": {"features": features}})})
        for split, items in self.rows.items():
            buffer = io.BytesIO()
            pq.write_table(pa.Table.from_pylist(items, schema=schema), buffer)
            tree.write(f"parquet/{split}.parquet", buffer.getvalue())


class SampleIndex(DatasetWriter):
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def add(self, placed: PlacedRecord) -> None:
        r = placed.record
        self.rows.append({
            "id": r.id, "split": r.split, "instruction": r.instruction,
            "harmful_query": r.harmful_query, "category": r.category,
            "sub_category": r.sub_category, "filter_reason": r.filter_reason,
            "cot_label": r.cot_label, "image_path1": placed.paths[0],
            "image_path2": placed.paths[1], "seed_id": r.seed_id, "prompt1": r.prompt1,
            "prompt2": r.prompt2})

    def finish(self, tree: Tree, card: dict) -> None:
        tree.write("samples.jsonl",
                   "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in self.rows).encode())


class DatasetCard(DatasetWriter):
    def __init__(self) -> None:
        self.labels: list[tuple[str, str, str]] = []

    def add(self, placed: PlacedRecord) -> None:
        r = placed.record
        self.labels.append((r.split, r.category, r.sub_category))

    def finish(self, tree: Tree, card: dict) -> None:
        card = {**card, **counts(self.labels)}
        tree.write("card.json", dump(card))
        tree.write("README.md", render_card(card).encode())


def counts(labels: list[tuple[str, str, str]]) -> dict:
    """Samples per split, per category and per sub-category, for the card."""
    per_split = Counter(split for split, _, _ in labels)
    per_category: dict[str, Counter] = {}
    per_sub: dict[str, Counter] = {}
    for split, category, sub_category in labels:
        per_category.setdefault(split, Counter())[category] += 1
        per_sub.setdefault(split, Counter())[f"{category} / {sub_category}"] += 1
    return {"total": len(labels), "per_split": dict(sorted(per_split.items())),
            "per_category": {s: dict(sorted(c.items())) for s, c in sorted(per_category.items())},
            "per_sub_category": {s: dict(sorted(c.items())) for s, c in sorted(per_sub.items())}}


# Every format an export writes, in the order their files are written.
WRITERS: tuple[type[DatasetWriter], ...] = (MisTestSplits, TrainConversations, SampleIndex,
                                             ParquetSplits, DatasetCard)
