"""Training records: loading, validation and the safety/general mixture.

Both the MIS train split and the general instruction set use one layout (`train.json`, a
JSON array of {"id", "images": [relative paths], "conversations": [{"from", "value"}]}
with one `<image>` placeholder per image). Everything that can be wrong with a record is
checked here, before training starts, with the record's id and the field in the message.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

IMAGE_PLACEHOLDER = "<image>"
ROLES = {"human": "user", "gpt": "assistant", "system": "system"}


class DatasetError(ValueError):
    """A dataset or one of its records is unusable; the message says which and why."""


@dataclass(frozen=True)
class Turn:
    role: str  # "system", "user" or "assistant"
    text: str  # with `<image>` placeholders where images go


@dataclass(frozen=True)
class Sample:
    sample_id: str
    source: str  # "safety" or "general"
    images: tuple[Path, ...]
    turns: tuple[Turn, ...]


def load_records(folder: Path, source: str) -> list[Sample]:
    """Reads `train.json` under `folder` and checks every record against its images."""
    index = folder / "train.json"
    if not index.is_file():
        raise DatasetError(f"{source} dataset: {index.name} not found in {folder}")
    try:
        records = json.loads(index.read_text())
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{source} dataset: {index.name} is not valid JSON ({exc})") from exc
    if not isinstance(records, list) or not records:
        raise DatasetError(f"{source} dataset: {index.name} must be a non-empty JSON array")
    return [_parse_record(folder, source, position, record) for position, record in enumerate(records)]


def _parse_record(folder: Path, source: str, position: int, record: object) -> Sample:
    where = f"{source} dataset, record {position}"
    if not isinstance(record, dict):
        raise DatasetError(f"{where}: expected an object, got {type(record).__name__}")
    sample_id = str(record.get("id", position))
    where = f"{source} dataset, record {sample_id!r}"
    images = record.get("images", [])
    if isinstance(images, str):
        images = [images]
    if not isinstance(images, list) or not all(isinstance(p, str) for p in images):
        raise DatasetError(f"{where}: images must be a list of relative paths")
    paths = []
    for relative in images:
        path = folder / relative
        if not path.is_file():
            raise DatasetError(f"{where}: images: {relative!r} not found under the dataset folder")
        paths.append(path)
    conversations = record.get("conversations")
    if not isinstance(conversations, list) or not conversations:
        raise DatasetError(f"{where}: conversations must be a non-empty list")
    turns = []
    for turn_no, turn in enumerate(conversations):
        if not isinstance(turn, dict) or turn.get("from") not in ROLES or not isinstance(turn.get("value"), str):
            raise DatasetError(f"{where}: conversations[{turn_no}] must be "
                               f"{{'from': one of {sorted(ROLES)}, 'value': text}}")
        turns.append(Turn(ROLES[turn["from"]], turn["value"]))
    dialogue = [t for t in turns if t.role != "system"]
    if not dialogue or dialogue[0].role != "user" or dialogue[-1].role != "assistant":
        raise DatasetError(f"{where}: conversations must start with a human turn and end with a gpt turn")
    for a, b in zip(dialogue, dialogue[1:]):
        if a.role == b.role:
            raise DatasetError(f"{where}: conversations must alternate human and gpt turns")
    if any(IMAGE_PLACEHOLDER in t.text for t in turns if t.role != "user"):
        raise DatasetError(f"{where}: {IMAGE_PLACEHOLDER} placeholders may only appear in human turns")
    placeholders = sum(t.text.count(IMAGE_PLACEHOLDER) for t in turns)
    if placeholders != len(paths):
        raise DatasetError(f"{where}: {len(paths)} image(s) but {placeholders} {IMAGE_PLACEHOLDER} "
                           f"placeholder(s) in the conversation; they must match one to one")
    return Sample(sample_id, source, tuple(paths), tuple(turns))


def mix(safety: list[Sample], general: list[Sample], ratio: float, seed: int) -> list[Sample]:
    """The safety split plus `ratio` general samples per safety sample (drawn without replacement).

    The paper mixes 500 M4-Instruct samples into 3,927 MIS samples; asking for more general
    samples than the set holds is an error rather than a silent change of the mixture.
    """
    if not general or ratio == 0:
        return list(safety)
    wanted = round(len(safety) * ratio)
    if wanted > len(general):
        raise DatasetError(f"general_ratio: {ratio} asks for {wanted} general samples, "
                           f"but the general dataset holds {len(general)}")
    chosen = random.Random(seed).sample(general, wanted)
    return list(safety) + chosen
