"""The dataset record every export path shares: one finished sample with its
images (read lazily, so a large export never holds every image in memory),
labels, and how it was made."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Callable

from PIL import Image


@dataclass
class DatasetRecord:
    id: str
    split: str                       # train, easy, hard, real
    instruction: str
    category: str
    sub_category: str
    image1: Callable[[], bytes]
    image2: Callable[[], bytes]
    harmful_query: str = ""
    cot_label: str = ""
    filter_reason: str = ""
    seed_id: str = ""
    prompt1: str = ""
    prompt2: str = ""
    # (stage, backend, model, prompt_version) of every model call behind it.
    made_by: list[tuple[str, str, str, str]] = field(default_factory=list)


def as_png(data: bytes) -> bytes:
    """The MIS_Test layout names every image objectN.png: convert when needed."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data
    with Image.open(io.BytesIO(data)) as image:
        out = io.BytesIO()
        image.convert("RGB").save(out, format="PNG")
        return out.getvalue()
