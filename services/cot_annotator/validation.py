"""Request checks of the cot-annotator: every bad field is named with the reason."""

from __future__ import annotations

from mis.v1 import common_pb2, cot_annotator_pb2
from services.common.errors import require

MAX_PHRASE_CHARS = 200
MAX_TEXT_CHARS = 4000
MAX_REGENERATIONS = 10


def _text(value: str, field: str, limit: int) -> None:
    require(value.strip(), field, "required")
    require(len(value) <= limit, field, f"longer than {limit} characters")


def _image(ref: common_pb2.ImageRef, field: str) -> None:
    require(ref.key.strip(), f"{field}.key", "required: the image's key in the store")


def check_item(item: cot_annotator_pb2.AnnotateItem, where: str) -> None:
    """Raise InvalidArgument naming the first bad field of one item."""
    _text(item.id, f"{where}.id", MAX_PHRASE_CHARS)
    require(item.HasField("instruction"), f"{where}.instruction", "required")
    instruction = item.instruction
    _text(instruction.instruction, f"{where}.instruction.instruction", MAX_TEXT_CHARS)
    _text(instruction.category.name, f"{where}.instruction.category.name", MAX_PHRASE_CHARS)
    _text(instruction.object1, f"{where}.instruction.object1", MAX_PHRASE_CHARS)
    _text(instruction.object2, f"{where}.instruction.object2", MAX_PHRASE_CHARS)
    require(item.HasField("images"), f"{where}.images", "required: the pair's two images")
    _image(item.images.image1, f"{where}.images.image1")
    _image(item.images.image2, f"{where}.images.image2")
    require(len(item.harmful_query) <= MAX_TEXT_CHARS, f"{where}.harmful_query",
            f"longer than {MAX_TEXT_CHARS} characters")


def resolve_regenerations(options: cot_annotator_pb2.AnnotateOptions, default: int) -> int:
    value = options.max_regenerations or default
    require(0 <= value <= MAX_REGENERATIONS, "options.max_regenerations",
            f"must be between 0 and {MAX_REGENERATIONS}, got {options.max_regenerations}")
    return value
