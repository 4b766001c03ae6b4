"""The export's formats, one small writer each: every writer is handed each
record with its images already placed in the tree, and writes its own files
at the end. A format is added by adding a writer to `WRITERS`, without
touching the others.

    MisTestSplits     mis_easy.json, mis_hard.json, mis_real.json (the public MIS_Test names)
    TrainConversations train/train.json, the conversation format the trainer reads
    SampleIndex       samples.jsonl, every record with its labels and provenance (the browser's source)
    DatasetCard       card.json and README.md, with the counts

and beside them ParquetSplits (parquet.py) and the train split for other
fine-tuning frameworks (formats.py). `WRITERS` (dataset.py) lists them all.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from typing import Protocol

from services.coordinator.card import render_card
from services.coordinator.records import DatasetRecord

TEST_SPLITS = ("easy", "hard", "real")


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


def jsonl(rows: list[dict]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()


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
            "prompt2": r.prompt2, "provenance": r.provenance()})

    def finish(self, tree: Tree, card: dict) -> None:
        tree.write("samples.jsonl", jsonl(self.rows))


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
