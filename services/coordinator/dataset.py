"""Writing a dataset tree from records, the layout the trainer and the
evaluation scripts read:

    <root>/mis_easy.json, mis_hard.json  MIS_Test records (question, category,
                                         sub_category, image_path1, image_path2, id)
    <root>/<split>_image/<n>/object1.png, object2.png
    <root>/train/train.json              conversation records with an image list
    <root>/train/images/<id>/object1.png, object2.png
    <root>/parquet/<split>.parquet       loadable with `datasets` (images as Image)
    <root>/samples.jsonl                 every record with its labels and provenance (the browser's source)
    <root>/rejected/rejected.jsonl       what the dataset leaves out, with why (reviewer, stage,
    <root>/rejected/<id>/object1.png     near-duplicate, over target), and its images where drawn
    <root>/README.md, card.json          the dataset card (Hugging Face front matter)
    <root>/train/dataset_info.json, internvl_meta.json, swift_train.jsonl, ...
                                         the train split for LLaMA-Factory, InternVL, ms-swift

Images are placed here, once per record; each format is a writer in
writers.py. The same tree is uploaded under datasets/<name>/<version>/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from services.coordinator.formats import TRAIN_FORMATS
from services.coordinator.parquet import ParquetSplits
from services.coordinator.records import DatasetRecord, SetAside, as_png
from services.coordinator.writers import (TEST_SPLITS, DatasetCard, DatasetWriter, MisTestSplits, PlacedRecord,
                                          SampleIndex, TrainConversations, jsonl)

__all__ = ["TEST_SPLITS", "WRITERS", "WrittenDataset", "write_tree"]

# Every format an export writes, in the order their files are written.
WRITERS: tuple[type[DatasetWriter], ...] = (MisTestSplits, TrainConversations, *TRAIN_FORMATS, SampleIndex,
                                             ParquetSplits, DatasetCard)


@dataclass
class WrittenDataset:
    root: Path
    per_split: dict[str, int] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    def write(self, relative: str, data: bytes) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files.append(path)


def image_folder(record: DatasetRecord, number: int) -> str:
    """Where a record's two images go: by id for train, by number in a test split."""
    if record.split == "train":
        return f"train/images/{record.id}"
    return f"{record.split}_image/{number}"


def _write_set_aside(tree: WrittenDataset, aside: Iterable[SetAside]) -> None:
    """rejected/: one row per left-out sample with its reason, and its two
    images beside it when it was drawn, so the browser can show them."""
    rows = []
    for item in aside:
        r = item.record
        paths = ("", "")
        if r.image1 is not None and r.image2 is not None:
            paths = (f"rejected/{r.id}/object1.png", f"rejected/{r.id}/object2.png")
            for path, read in zip(paths, (r.image1, r.image2)):
                tree.write(path, as_png(read()))
        rows.append({"id": r.id, "kind": item.kind, "reason": item.reason, "note": item.note,
                     "stage": item.stage, "duplicate_of": item.duplicate_of, "split": r.split,
                     "instruction": r.instruction, "harmful_query": r.harmful_query,
                     "category": r.category, "sub_category": r.sub_category,
                     "filter_reason": r.filter_reason, "cot_label": r.cot_label,
                     "image_path1": paths[0], "image_path2": paths[1], "prompt1": r.prompt1,
                     "prompt2": r.prompt2, "provenance": r.provenance()})
    if rows:
        tree.write("rejected/rejected.jsonl", jsonl(rows))


def write_tree(records: Iterable[DatasetRecord], root: Path, card: dict,
               aside: Iterable[SetAside] = ()) -> WrittenDataset:
    """Write every file of the layout under `root` (the card gets the counts);
    `aside` are the samples left out, written under rejected/."""
    root.mkdir(parents=True, exist_ok=True)
    tree = WrittenDataset(root)
    writers = [writer() for writer in WRITERS]
    for record in records:
        number = tree.per_split.get(record.split, 0) + 1
        tree.per_split[record.split] = number
        folder = image_folder(record, number)
        images = (as_png(record.image1()), as_png(record.image2()))
        paths = (f"{folder}/object1.png", f"{folder}/object2.png")
        for path, data in zip(paths, images):
            tree.write(path, data)
        placed = PlacedRecord(record, images, paths, number)
        for writer in writers:
            writer.add(placed)
    _write_set_aside(tree, aside)
    for writer in writers:
        writer.finish(tree, card)
    return tree
