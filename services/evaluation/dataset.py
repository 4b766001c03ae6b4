"""Reading MIS_Test-format splits (MIS-facts section 2).

A split is a JSON array of records with `question`, `category`,
`sub_category`, `image_path1`, `image_path2` (relative to the dataset root)
and an optional integer `id`. A sample's id is `<split>-<id>`, or
`<split>-<index>` where the record has no id, so ids are stable across runs
and resuming can skip what is done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

KNOWN_SPLITS = {"easy": "mis_easy.json", "hard": "mis_hard.json", "real": "mis_real.json"}
REQUIRED = ("question", "category", "sub_category", "image_path1", "image_path2")


class DatasetError(ValueError):
    """A split file is missing or malformed; the message names file, record and field."""


@dataclass(frozen=True)
class EvalSample:
    id: str
    split: str
    question: str
    category: str
    sub_category: str
    image_paths: tuple[Path, Path]

    def read_images(self) -> tuple[bytes, bytes]:
        return tuple(path.read_bytes() for path in self.image_paths)  # type: ignore[return-value]


def load_split(path: Path, split: str, root: Path | None = None) -> list[EvalSample]:
    """Samples of one split file; image paths resolve against `root` (default: its folder)."""
    root = root or path.parent
    try:
        records = json.loads(path.read_text())
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path}: not valid JSON: {exc}") from None
    if not isinstance(records, list):
        raise DatasetError(f"{path}: expected a JSON array of records")
    samples: list[EvalSample] = []
    seen: set[str] = set()
    for index, record in enumerate(records):
        where = f"{path}: record {index}"
        if not isinstance(record, dict):
            raise DatasetError(f"{where}: expected an object")
        for name in REQUIRED:
            if not isinstance(record.get(name), str) or not record[name].strip():
                raise DatasetError(f"{where}: {name}: required, a non-empty string")
        raw_id = record.get("id")
        if raw_id is not None and (isinstance(raw_id, bool) or not isinstance(raw_id, (int, str))):
            raise DatasetError(f"{where}: id: must be an integer or a string")
        sample_id = f"{split}-{raw_id if raw_id is not None else index}"
        if sample_id in seen:
            raise DatasetError(f"{where}: id: duplicate {sample_id!r}")
        seen.add(sample_id)
        images = (root / record["image_path1"], root / record["image_path2"])
        for number, image in enumerate(images, start=1):
            if not image.is_file():
                raise DatasetError(f"{where}: image_path{number}: no file at {image}")
        samples.append(EvalSample(sample_id, split, record["question"], record["category"],
                                  record["sub_category"], images))
    return samples


def resolve_splits(specs: list[str], data_root: Path | None) -> list[tuple[str, Path, Path]]:
    """(split name, file, image root) for each spec: `easy`/`hard`/`real` under
    `data_root`, `NAME=FILE.json`, a `FILE.json`, or a folder of `mis_*.json`."""
    found: list[tuple[str, Path, Path]] = []
    for spec in specs:
        name, _, target = spec.partition("=") if "=" in spec else ("", "", spec)
        if not name and target in KNOWN_SPLITS:
            if data_root is None:
                raise DatasetError(f"split {target!r}: give --data, the MIS_Test folder")
            found.append((target, data_root / KNOWN_SPLITS[target], data_root))
            continue
        path = Path(target)
        if path.is_dir():
            files = sorted(path.glob("mis_*.json"))
            if not files:
                raise DatasetError(f"{path}: no mis_*.json split files in this folder")
            found += [(f.stem.removeprefix("mis_"), f, path) for f in files]
        elif path.is_file():
            found.append((name or path.stem.removeprefix("mis_"), path, path.parent))
        else:
            raise DatasetError(f"split {spec!r}: not a known split, a file or a folder")
    names = [name for name, _, _ in found]
    if len(set(names)) != len(names):
        raise DatasetError(f"split names repeat: {names}; name them with NAME=FILE")
    return found


def load_samples(specs: list[str], data_root: Path | None) -> list[EvalSample]:
    samples: list[EvalSample] = []
    for name, path, root in resolve_splits(specs, data_root):
        samples += load_split(path, name, root)
    return samples
