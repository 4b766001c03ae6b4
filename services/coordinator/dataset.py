"""Writing a dataset tree from records, the layout the trainer and the
evaluation scripts read:

    <root>/mis_easy.json, mis_hard.json  MIS_Test records (question, category,
                                         sub_category, image_path1, image_path2, id)
    <root>/<split>_image/<n>/object1.png, object2.png
    <root>/train/train.json              conversation records with an image list
    <root>/train/images/<id>/object1.png, object2.png
    <root>/parquet/<split>.parquet       loadable with `datasets` (images as Image)
    <root>/samples.jsonl                 every record with its labels (the browser's source)
    <root>/README.md, card.json          the dataset card

Images are placed here, once per record; each format is a writer in
writers.py. The same tree is uploaded under datasets/<name>/<version>/.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from services.coordinator.records import DatasetRecord, as_png
from services.coordinator.writers import TEST_SPLITS, WRITERS, PlacedRecord

__all__ = ["TEST_SPLITS", "WrittenDataset", "write_tree"]


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


def write_tree(records: Iterable[DatasetRecord], root: Path, card: dict) -> WrittenDataset:
    """Write every file of the layout under `root` (the card gets the counts)."""
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
    for writer in writers:
        writer.finish(tree, card)
    return tree
