"""What every benchmark reader shares: reading the release's JSON and CSV files
with errors that name the file, the record and the field, images that must stay
inside the release folder and be images by their bytes, and the content hash
that keys resumed answers.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any, Mapping

from services.evaluation.dataset import DatasetError, EvalSample, image_inside


def read_json(path: Path) -> Any:
    if not path.is_file():
        raise DatasetError(f"{path}: no such file (is --data the release folder?)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror}") from None
    except (json.JSONDecodeError, RecursionError, UnicodeDecodeError, ValueError) as exc:
        raise DatasetError(f"{path}: not valid JSON: {type(exc).__name__}") from None


def read_csv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """The rows of a CSV file with a header holding at least `columns`."""
    if not path.is_file():
        raise DatasetError(f"{path}: no such file (is --data the release folder?)")
    try:
        with path.open(newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            missing = [c for c in columns if c not in (reader.fieldnames or [])]
            if missing:
                raise DatasetError(f"{path}: header: missing column(s) {', '.join(missing)}")
            return list(reader)
    except UnicodeDecodeError:
        raise DatasetError(f"{path}: not UTF-8 text") from None
    except csv.Error as exc:
        raise DatasetError(f"{path}: not valid CSV: {exc}") from None


def text_field(record: Mapping, name: str, where: str) -> str:
    value = record.get(name)
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(f"{where}: {name}: required, a non-empty string")
    return value


def item(*, benchmark: str, number: str, split: str, question: str, category: str,
         root: Path, image: str, where: str, sub_category: str = "",
         meta: Mapping[str, Any] | None = None) -> EvalSample:
    """One benchmark item with its single image checked and its content hashed."""
    path, data = image_inside(root, image, f"{where}: image")
    meta = dict(meta or {})
    digest = hashlib.sha256()
    for text in (benchmark, question, category, sub_category,
                 json.dumps(meta, sort_keys=True, ensure_ascii=False)):
        digest.update(text.encode() + b"\0")
    digest.update(hashlib.sha256(data).digest())
    return EvalSample(id=f"{benchmark}-{number}", split=split, question=question,
                      category=category, sub_category=sub_category, image_paths=(path,),
                      content_sha256=digest.hexdigest(), meta=meta)


def unique(samples: list[EvalSample], where: Path) -> list[EvalSample]:
    seen: set[str] = set()
    for sample in samples:
        if sample.id in seen:
            raise DatasetError(f"{where}: id: duplicate {sample.id!r}")
        seen.add(sample.id)
    return samples


def choose(subsets: list[str] | None, known: tuple[str, ...], default: tuple[str, ...],
           benchmark: str) -> tuple[str, ...]:
    """The subsets `--split` asks for (default: `default`), each one of `known`."""
    chosen = tuple(subsets) if subsets else default
    unknown = [s for s in chosen if s not in known]
    if unknown:
        raise DatasetError(f"--split {unknown[0]!r}: {benchmark} has the subsets "
                           f"{', '.join(known)}")
    return chosen
