"""Seed readers: safety-benchmark files in, `Seed` messages out.

Three layouts are read (MIS-facts section 2):
- `jsonl`: one JSON object per line, {"id", "text"} for a text seed or
  {"id", "image", "caption"|"question"} for an image seed, plus optional
  "source" and "category";
- `mis_test`: a MIS_Test JSON array (question, category, sub_category,
  image_path1, image_path2, optional id); each record becomes a text seed from
  its question, hinted with its category;
- `vlguard`: a VLGuard JSON array (id, image, safe, instr-resp); every harmful
  instruction (an unsafe image's `instruction`, or any `unsafe_instruction`)
  becomes an image seed; `safe_instruction` entries are skipped.

Image paths are relative to the dataset root (the file's folder) and may not
leave it. Files are checked for kind and size before they are read, and JSON
nesting and number lengths are bounded (`services.common.parsing`). A bad record raises `SeedError` naming the file, the line or index
and the field, so a malformed benchmark fails before any model is called.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from mis.v1 import common_pb2
from services.common.parsing import ParseRejected, parse_json, read_file_bytes, read_text_file

FORMATS = ("jsonl", "mis_test", "vlguard")
# Checked from `stat` before reading: a seed path may name /dev/zero or a huge file.
MAX_SEED_FILE_BYTES = 256 * 1024 * 1024
MAX_IMAGE_FILE_BYTES = 20 * 1024 * 1024

# VLGuard's harm labels mapped onto the MIS taxonomy where one clearly fits;
# the rest carry no hint (the extractor then chooses the category).
VLGUARD_HINTS = {
    "sexually explicit": "Erotic",
    "violence": "Violent",
    "personal data": "Privacy",
    "privacy": "Privacy",
    "discrimination": "Hate",
    "hateful speech": "Hate",
}


class SeedError(ValueError):
    """A seed record is malformed; the message names file, record and field."""

    def __init__(self, path: Path, where: str, field: str, reason: str) -> None:
        super().__init__(f"{path}: {where}: {field}: {reason}")
        self.path, self.where, self.field, self.reason = path, where, field, reason


def read_seeds(path: Path, fmt: str, limit: int = 0) -> Iterator[common_pb2.Seed]:
    """Seeds from `path` in format `fmt`; at most `limit` of them when limit > 0."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown seed format {fmt!r}; choose from {', '.join(FORMATS)}")
    reader = {"jsonl": _jsonl, "mis_test": _mis_test, "vlguard": _vlguard}[fmt]
    return _limited(reader(Path(path)), limit)


def _limited(seeds: Iterator[common_pb2.Seed], limit: int) -> Iterator[common_pb2.Seed]:
    for produced, seed in enumerate(seeds, 1):
        yield seed
        if limit and produced >= limit:
            return


def _text(record: dict, key: str, path: Path, where: str, required: bool = True) -> str:
    value = record.get(key)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise SeedError(path, where, key, "required, a non-empty string")
        return ""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        raise SeedError(path, where, key, f"expected a string, got {type(value).__name__}")
    return str(value).strip()


def _image(path: Path, where: str, field: str, relative: str) -> common_pb2.Image:
    """Read an image relative to the dataset root, refusing paths that leave it."""
    root = path.parent.resolve()
    if Path(relative).is_absolute():
        raise SeedError(path, where, field, f"{relative!r} must be relative to the dataset root")
    target = (root / relative).resolve()
    if not target.is_relative_to(root):
        raise SeedError(path, where, field, f"{relative!r} leaves the dataset root")
    try:
        return common_pb2.Image(data=read_file_bytes(target, MAX_IMAGE_FILE_BYTES))
    except ParseRejected as exc:
        raise SeedError(path, where, field, f"{relative!r} {exc}") from None


def _load_array(path: Path) -> list[Any]:
    try:
        text = read_text_file(path, MAX_SEED_FILE_BYTES)
    except ParseRejected as exc:
        raise SeedError(path, "file", "-", str(exc)) from None
    try:
        data = parse_json(text)
    except ParseRejected as exc:
        raise SeedError(path, "file", "-", str(exc)) from None
    if not isinstance(data, list):
        raise SeedError(path, "file", "-", "expected a JSON array of records")
    return data


def _jsonl(path: Path) -> Iterator[common_pb2.Seed]:
    try:
        lines = read_text_file(path, MAX_SEED_FILE_BYTES).splitlines()
    except ParseRejected as exc:
        raise SeedError(path, "file", "-", str(exc)) from None
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            record = parse_json(line)
        except ParseRejected as exc:
            raise SeedError(path, where, "-", str(exc)) from None
        if not isinstance(record, dict):
            raise SeedError(path, where, "-", "expected a JSON object")
        seed = common_pb2.Seed(id=_text(record, "id", path, where),
                               source=_text(record, "source", path, where, required=False) or path.stem,
                               category_hint=_text(record, "category", path, where, required=False))
        image = _text(record, "image", path, where, required=False)
        if image:
            seed.image.CopyFrom(_image(path, where, "image", image))
            seed.text = (_text(record, "question", path, where, required=False)
                         or _text(record, "caption", path, where, required=False))
        else:
            if "text" not in record:
                raise SeedError(path, where, "text", "a record needs `text` or `image`")
            seed.text = _text(record, "text", path, where)
        yield seed


def _mis_test(path: Path) -> Iterator[common_pb2.Seed]:
    for index, record in enumerate(_load_array(path)):
        where = f"record {index}"
        if not isinstance(record, dict):
            raise SeedError(path, where, "-", "expected a JSON object")
        identifier = _text(record, "id", path, where, required=False) or str(index)
        yield common_pb2.Seed(id=f"{path.stem}-{identifier}", source=f"MIS_Test/{path.stem}",
                              text=_text(record, "question", path, where),
                              category_hint=_text(record, "category", path, where))


def _vlguard(path: Path) -> Iterator[common_pb2.Seed]:
    for index, record in enumerate(_load_array(path)):
        where = f"record {index}"
        if not isinstance(record, dict):
            raise SeedError(path, where, "-", "expected a JSON object")
        identifier = _text(record, "id", path, where)
        image_path = _text(record, "image", path, where)
        safe = record.get("safe")
        if not isinstance(safe, bool):
            raise SeedError(path, where, "safe", "required, true or false")
        turns = record.get("instr-resp")
        if not isinstance(turns, list) or not turns:
            raise SeedError(path, where, "instr-resp", "required, a non-empty list")
        hint = (VLGUARD_HINTS.get(str(record.get("harmful_subcategory", "")).strip().lower())
                or VLGUARD_HINTS.get(str(record.get("harmful_category", "")).strip().lower(), ""))
        image: common_pb2.Image | None = None
        for turn_index, turn in enumerate(turns):
            turn_where = f"{where}, instr-resp[{turn_index}]"
            if not isinstance(turn, dict):
                raise SeedError(path, turn_where, "-", "expected a JSON object")
            key = "unsafe_instruction" if "unsafe_instruction" in turn else (
                "instruction" if "instruction" in turn and not safe else None)
            if key is None:
                if not {"instruction", "safe_instruction"} & turn.keys():
                    raise SeedError(path, turn_where, "instruction",
                                    "needs instruction, safe_instruction or unsafe_instruction")
                continue
            if image is None:
                # Read once per record; every harmful instruction shares the image.
                image = _image(path, where, "image", image_path)
            seed = common_pb2.Seed(id=f"{identifier}-{turn_index}", source="VLGuard",
                                   text=_text(turn, key, path, turn_where), category_hint=hint)
            seed.image.CopyFrom(image)
            yield seed
