"""Near-duplicate detection within a run: perceptual hashes of images and
normalised token sets of instructions.

Image hash: dHash, 64 bits as 16 hex digits (grey 9x8 thumbnail, one bit per
horizontal gradient), robust to re-encoding and resizing. Instruction text:
the instruction with its typed placeholders put back as the object phrases,
lower-cased, punctuation and filler words dropped; so the same template about
different objects is not a duplicate, while a reworded copy about the same
objects is. Which items are near-duplicates of which is decided in
near_duplicates.py; semantic near-duplicates, by image embeddings, in
semantic.py.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass

import numpy as np
from PIL import Image

from services.common.images import MAX_PIXELS, decode_image

HASH_HEX_DIGITS = 16
_PLACEHOLDER = re.compile(r"\bthe\s+\w+\s+in\s+the\s+(first|second)\s+image\b", re.IGNORECASE)
_FILLER = frozenset("a an the of in on at to and or for with from by is are be this that it".split())


def image_hash(data: bytes, max_pixels: int = MAX_PIXELS) -> str:
    """64-bit dHash of an image as 16 lower-case hex digits.

    Decodes through `decode_image`, so a decompression bomb or a truncated
    body is an ImageRejected (a ValueError) before any pixel is decoded.
    CPU-bound: async callers use `image_hash_in_thread`.
    """
    with decode_image(data, max(len(data), 1), max_pixels) as image:
        grey = image.convert("L").resize((9, 8), Image.Resampling.LANCZOS)
    pixels = np.asarray(grey, dtype=np.int16)
    bits = (pixels[:, 1:] > pixels[:, :-1]).flatten()
    value = 0
    for bit in bits:
        value = (value << 1) | int(bit)
    return f"{value:0{HASH_HEX_DIGITS}x}"


async def image_hash_in_thread(data: bytes) -> str:
    """`image_hash` off the event loop, so hashing never stalls health checks."""
    return await asyncio.to_thread(image_hash, data)


def instruction_text(instruction: str, object1: str, object2: str) -> str:
    """The instruction as it reads with its objects, normalised for comparison."""
    objects = {"first": object1, "second": object2}
    text = _PLACEHOLDER.sub(lambda m: objects[m.group(1).lower()] or m.group(0), instruction)
    return " ".join(tokens_of(text))


def tokens_of(text: str) -> list[str]:
    return [t for t in re.findall(r"[a-z0-9]+", text.lower()) if t not in _FILLER]


def similarity(first: frozenset[str] | set[str], second: frozenset[str] | set[str]) -> float:
    """Jaccard similarity of two token sets (1.0 for two empty sets)."""
    if not first and not second:
        return 1.0
    return len(first & second) / len(first | second)


@dataclass(frozen=True)
class Thresholds:
    max_image_distance: int = 6
    min_text_similarity: float = 0.9
    # Semantic near-duplicates (semantic.py): both images' cosine; 0 is off.
    min_image_similarity: float = 0.0
