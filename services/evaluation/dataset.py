"""Reading MIS_Test-format splits (MIS-facts section 2).

A split is a JSON array of records with `question`, `category`,
`sub_category`, `image_path1`, `image_path2` (relative to the dataset root)
and an optional integer `id`. A sample's id is `<split>-<id>`, or
`<split>-<n>` with `n` the record's 1-based position where it has no id (the
numbering the export uses), so ids are stable across runs and resuming can
skip what is done.

The reader is a boundary: a split file is data someone handed us, so an
image path may not leave the dataset root (`../`, absolute paths, symlinks
pointing outside), and a file must be an image by its bytes, not its name.
Each sample carries a content hash over its text and image bytes, which keys
resumed answers: an edited record is answered again, never reused.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Mapping

from services.common.images import sniff

KNOWN_SPLITS = {"easy": "mis_easy.json", "hard": "mis_hard.json", "real": "mis_real.json"}
REQUIRED = ("question", "category", "sub_category", "image_path1", "image_path2")


class DatasetError(ValueError):
    """A split file is missing or malformed; the message names file, record and field."""


@dataclass(frozen=True)
class EvalSample:
    """One item to answer: MIS samples carry two images; the other safety
    benchmarks' items (services/evaluation/benchmarks) one, plus `meta`, the
    release's fields their metric and judge need (a safety warning, the
    context of an MSSBench pair, the query a jailbreak hides)."""

    id: str
    split: str
    question: str
    category: str
    sub_category: str
    image_paths: tuple[Path, ...]
    content_sha256: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict)

    def read_images(self) -> tuple[bytes, ...]:
        return tuple(path.read_bytes() for path in self.image_paths)


def image_inside(root: Path, relative: str, where: str) -> tuple[Path, bytes]:
    """The image at `relative` under `root`, refusing anything that leaves the root
    (by `..`, an absolute path or a symlink) and anything that is not an image."""
    if PurePosixPath(relative).is_absolute() or Path(relative).is_absolute():
        raise DatasetError(f"{where}: {relative!r} is absolute; paths are relative to the dataset root")
    if ".." in PurePosixPath(relative).parts:
        raise DatasetError(f"{where}: {relative!r} leaves the dataset root ('..')")
    path = root / relative
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()):
        raise DatasetError(f"{where}: {relative!r} is a link to a place outside the dataset root")
    if not resolved.is_file():
        raise DatasetError(f"{where}: no file at {path}")
    data = resolved.read_bytes()
    if sniff(data[:16]) is None:
        raise DatasetError(f"{where}: {relative!r} is not an image (expected PNG, JPEG, WebP "
                           f"or GIF bytes)")
    return path, data


def content_hash(record: dict, images: tuple[bytes, bytes]) -> str:
    digest = hashlib.sha256()
    for text in (record["question"], record["category"], record["sub_category"]):
        digest.update(text.encode() + b"\0")
    for data in images:
        digest.update(hashlib.sha256(data).digest())
    return digest.hexdigest()


def parse_records(path: Path) -> list:
    try:
        records = json.loads(path.read_text())
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror}") from None
    except (json.JSONDecodeError, RecursionError, UnicodeDecodeError, ValueError) as exc:
        raise DatasetError(f"{path}: not valid JSON: {type(exc).__name__}") from None
    if not isinstance(records, list):
        raise DatasetError(f"{path}: expected a JSON array of records")
    return records


def load_split(path: Path, split: str, root: Path | None = None) -> list[EvalSample]:
    """Samples of one split file; image paths resolve against `root` (default: its folder)."""
    root = root or path.parent
    samples: list[EvalSample] = []
    seen: dict[str, int] = {}
    for index, record in enumerate(parse_records(path)):
        where = f"{path}: record {index}"
        if not isinstance(record, dict):
            raise DatasetError(f"{where}: expected an object")
        for name in REQUIRED:
            if not isinstance(record.get(name), str) or not record[name].strip():
                raise DatasetError(f"{where}: {name}: required, a non-empty string")
        raw_id = record.get("id")
        if raw_id is not None and (isinstance(raw_id, bool) or not isinstance(raw_id, (int, str))):
            raise DatasetError(f"{where}: id: must be an integer or a string")
        sample_id = f"{split}-{raw_id if raw_id is not None else index + 1}"
        if sample_id in seen:
            raise DatasetError(f"{where}: id: duplicate {sample_id!r} (also record {seen[sample_id]})")
        seen[sample_id] = index
        first = image_inside(root, record["image_path1"], f"{where}: image_path1")
        second = image_inside(root, record["image_path2"], f"{where}: image_path2")
        samples.append(EvalSample(sample_id, split, record["question"], record["category"],
                                  record["sub_category"], (first[0], second[0]),
                                  content_hash(record, (first[1], second[1]))))
    return samples


def default_splits(data_root: Path | None) -> list[str]:
    """The known splits whose files are in `data_root` (an export may hold only some)."""
    if data_root is None:
        raise DatasetError("give --data (a MIS_Test folder or an exported dataset) or --split")
    if not data_root.is_dir():
        raise DatasetError(f"--data {data_root}: not a folder")
    present = [name for name, file in KNOWN_SPLITS.items() if (data_root / file).is_file()]
    if not present:
        raise DatasetError(f"--data {data_root}: none of {', '.join(KNOWN_SPLITS.values())} here")
    return present


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


def load_samples(specs: list[str] | None, data_root: Path | None) -> list[EvalSample]:
    """Samples of `specs` (default: every known split present in `data_root`)."""
    samples: list[EvalSample] = []
    for name, path, root in resolve_splits(specs or default_splits(data_root), data_root):
        samples += load_split(path, name, root)
    return samples


def dataset_hash(samples: list[EvalSample]) -> str:
    """One hash of what was evaluated: every sample's id and content, in order."""
    digest = hashlib.sha256()
    for sample in samples:
        digest.update(f"{sample.id}\0{sample.content_sha256}\n".encode())
    return digest.hexdigest()
