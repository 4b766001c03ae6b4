"""Import of a MIS_Test-style folder into the store.

Everything is checked before anything is stored: ids are plain names and
unique (a given id may not take the place of a generated one), categories
belong to the taxonomy, split files, the train/ folder and every image lie
inside the folder once symlinks are resolved. The checked records are written
to a scratch tree and published by `export.publish`, which leaves no objects
of a failed attempt or of an older version beside the new one.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

from mis.v1 import coordinator_pb2
from services.common.errors import InvalidArgument
from services.common.images import ImageRejected, inspect_image
from services.common.parsing import ParseRejected, parse_json, read_file_bytes, read_text_file
from services.common.store import Store, shown
from services.common.taxonomy import Taxonomy, load_taxonomy
from services.coordinator.dataset import TEST_SPLITS, write_tree
from services.coordinator.export import label, manifest_of, publish
from services.coordinator.localpaths import LocalRoots
from services.coordinator.records import DatasetRecord

# An id names a folder (train/images/<id>/) and an object key: a plain name.
_PLAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def _inside(root: Path, relative: object, where: str, kind: str = "file") -> Path:
    """A path inside the dataset root, or InvalidArgument naming the record field."""
    if not isinstance(relative, str) or not relative.strip():
        raise InvalidArgument(where, "required, a path relative to the dataset root")
    if "\x00" in relative:
        raise InvalidArgument(where, "contains a NUL byte")
    if Path(relative).is_absolute():
        raise InvalidArgument(where, f"{shown(relative)} is absolute; paths are relative to the dataset root")
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        raise InvalidArgument(where, f"{shown(relative)} escapes the dataset root")
    if kind == "file" and not target.is_file():
        raise InvalidArgument(where, f"{shown(relative)}: no such file")
    return target


def _checked_reader(path: Path, where: str, max_bytes: int):
    try:
        data = read_file_bytes(path, max_bytes)
        inspect_image(data, max_bytes)
    except (ParseRejected, ImageRejected) as exc:
        raise InvalidArgument(where, str(exc)) from None
    return lambda: data


def _read_array(path: Path, where: str) -> list:
    try:
        data = parse_json(read_text_file(path))
    except ParseRejected as exc:
        raise InvalidArgument(where, str(exc)) from None
    if not isinstance(data, list):
        raise InvalidArgument(where, "expected a JSON array of records")
    return data


class _Checks:
    """What every record of one import is checked against: the ids seen so
    far (with the record that took each) and the taxonomy."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy
        self.ids: dict[str, str] = {}

    def claim(self, record_id: str, where: str, given: bool) -> str:
        if given and not _PLAIN_ID.fullmatch(record_id):
            raise InvalidArgument(f"{where}.id", f"{shown(record_id)} is not a plain name (letters, "
                                                 "digits, '.', '_' and '-', at most 128)")
        if record_id in self.ids:
            raise InvalidArgument(f"{where}.id", f"{shown(record_id)} is also the id of "
                                                 f"{self.ids[record_id]}")
        self.ids[record_id] = where
        return record_id

    def labels(self, item: dict, where: str, required: bool) -> tuple[str, str]:
        category, sub = item.get("category", ""), item.get("sub_category", "")
        for key, value in (("category", category), ("sub_category", sub)):
            if not isinstance(value, str) or (required and not value.strip()):
                raise InvalidArgument(f"{where}.{key}", "required, a non-empty string")
        if not category and not sub:
            return "", ""
        if not self.taxonomy.has_category(category):
            raise InvalidArgument(f"{where}.category", f"{shown(category)} is not a category of "
                                                       f"taxonomy {self.taxonomy.version}")
        if not self.taxonomy.has_sub_category(category, sub):
            owner = self.taxonomy.category_of(sub)
            reason = f"belongs to {owner!r}" if owner else "is not in the taxonomy"
            raise InvalidArgument(f"{where}.sub_category", f"{shown(sub)} {reason}, not to {category!r}")
        return category, sub


def _given_id(item: dict, where: str) -> str | None:
    value = item.get("id")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidArgument(f"{where}.id", "expected a string or an integer")
    return str(value)


def _split_file(root: Path, split: str) -> tuple[str, Path] | None:
    """The split's file (the public mis_ name first), checked to lie inside the root."""
    for name in (f"mis_{split}.json", f"{split}.json"):
        if (root / name).is_file():
            return name, _inside(root, name, name)
    return None


def _test_records(root: Path, checks: _Checks, max_bytes: int) -> list[DatasetRecord]:
    records = []
    for split in TEST_SPLITS:
        found = _split_file(root, split)
        if found is None:
            continue
        name, path = found
        for index, item in enumerate(_read_array(path, name)):
            where = f"{name}[{index}]"
            if not isinstance(item, dict):
                raise InvalidArgument(where, "expected a JSON object")
            if not isinstance(item.get("question"), str) or not item["question"].strip():
                raise InvalidArgument(f"{where}.question", "required, a non-empty string")
            category, sub = checks.labels(item, where, required=True)
            given = _given_id(item, where)
            record_id = checks.claim(f"{split}-{given if given is not None else index + 1}", where,
                                     given=given is not None)
            images = [_checked_reader(_inside(root, item.get(key), f"{where}.{key}"), f"{where}.{key}",
                                      max_bytes) for key in ("image_path1", "image_path2")]
            records.append(DatasetRecord(id=record_id, split=split, instruction=item["question"],
                                         category=category, sub_category=sub,
                                         image1=images[0], image2=images[1]))
    return records


def _train_records(root: Path, checks: _Checks, max_bytes: int) -> list[DatasetRecord]:
    if not (root / "train" / "train.json").is_file():
        return []
    folder = _inside(root, "train", "train", kind="folder")
    path = _inside(folder, "train.json", "train/train.json")
    records = []
    for index, item in enumerate(_read_array(path, "train/train.json")):
        where = f"train/train.json[{index}]"
        images = item.get("images") if isinstance(item, dict) else None
        turns = item.get("conversations") if isinstance(item, dict) else None
        if not isinstance(images, list) or len(images) != 2:
            raise InvalidArgument(f"{where}.images", "expected two image paths")
        if not isinstance(turns, list) or len(turns) != 2 or not all(isinstance(t, dict) for t in turns):
            raise InvalidArgument(f"{where}.conversations", "expected a human and a gpt turn")
        given = _given_id(item, where)
        record_id = checks.claim(given if given is not None else f"train-{index}", where,
                                 given=given is not None)
        category, sub = checks.labels(item, where, required=False)
        readers = [_checked_reader(_inside(folder, p, f"{where}.images[{n}]"), f"{where}.images[{n}]",
                                   max_bytes) for n, p in enumerate(images)]
        question = str(turns[0].get("value", "")).replace("<image>\n", "").strip()
        records.append(DatasetRecord(id=record_id, split="train", instruction=question, category=category,
                                     sub_category=sub, image1=readers[0], image2=readers[1],
                                     cot_label=str(turns[1].get("value", ""))))
    return records


def folder_records(folder: Path, max_image_bytes: int,
                   taxonomy: Taxonomy | None = None) -> list[DatasetRecord]:
    """Records of a MIS_Test-style folder (mis_easy.json or easy.json, ...), plus
    train/train.json in the conversation format when present."""
    root = folder.resolve()
    if not root.is_dir():
        raise InvalidArgument("path", f"{shown(str(folder))}: not a folder")
    checks = _Checks(taxonomy or load_taxonomy())
    records = _test_records(root, checks, max_image_bytes) + _train_records(root, checks, max_image_bytes)
    if not records:
        raise InvalidArgument("path", f"{shown(str(folder))}: no mis_easy.json, mis_hard.json, mis_real.json "
                                      "(or easy.json, ...) or train/train.json found")
    return records


def import_folder(store: Store, folder: str, name: str, version: str,
                  roots: LocalRoots | None = None) -> tuple[coordinator_pb2.DatasetManifest, int]:
    path = (roots or LocalRoots.parse("")).confine(folder, "path")
    name = label(name or path.name, "name")
    version = label(version or "imported", "version")
    records = folder_records(path, store.max_image_bytes)
    card = {"name": name, "version": version, "source": f"imported from {path.name}",
            "description": "A MIS_Test-style dataset imported into the store."}
    with tempfile.TemporaryDirectory() as scratch:
        written = write_tree(records, Path(scratch) / "dataset", card)
        publish(store, written, name, version)
    return manifest_of(store, name, version, written), len(records)
