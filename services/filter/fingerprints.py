"""Near-duplicate detection within a run: perceptual hashes of images and
normalised token sets of instructions.

Image hash: dHash, 64 bits as 16 hex digits (grey 9x8 thumbnail, one bit per
horizontal gradient), robust to re-encoding and resizing. Instruction text:
the instruction with its typed placeholders put back as the object phrases,
lower-cased, punctuation and filler words dropped; so the same template about
different objects is not a duplicate, while a reworded copy about the same
objects is. Deduplication keeps the first item of each group in the order
given: an item that is near any earlier item joins that item's group and
points at the group's first item, so chains (b near a, a near c) form one group.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
from PIL import Image

from mis.v1 import filter_pb2
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


def similarity(first: set[str], second: set[str]) -> float:
    """Jaccard similarity of two token sets (1.0 for two empty sets)."""
    if not first and not second:
        return 1.0
    return len(first & second) / len(first | second)


@dataclass(frozen=True)
class Thresholds:
    max_image_distance: int
    min_text_similarity: float


class ImagePairIndex:
    """Hashes of the earlier items' image pairs, compared all at once with numpy."""

    def __init__(self, fingerprints: list[filter_pb2.Fingerprint]) -> None:
        count = len(fingerprints)
        self.present = np.array([bool(f.image1_phash and f.image2_phash) for f in fingerprints], dtype=bool)
        self.first = np.array([int(f.image1_phash or "0", 16) for f in fingerprints], dtype=np.uint64)
        self.second = np.array([int(f.image2_phash or "0", 16) for f in fingerprints], dtype=np.uint64)
        self.kept = np.zeros(count, dtype=np.int64)
        self.size = 0

    def add(self, position: int) -> None:
        if self.present[position]:
            self.kept[self.size] = position
            self.size += 1

    def match(self, position: int, limit: int) -> int | None:
        """The first earlier item whose pair matches, in either order; items without hashes never match."""
        if not self.present[position] or self.size == 0:
            return None
        kept = self.kept[:self.size]
        first, second = self.first[kept], self.second[kept]
        mine1, mine2 = self.first[position], self.second[position]
        same = ((np.bitwise_count(first ^ mine1) <= limit) & (np.bitwise_count(second ^ mine2) <= limit))
        swapped = ((np.bitwise_count(first ^ mine2) <= limit) & (np.bitwise_count(second ^ mine1) <= limit))
        hits = np.flatnonzero(same | swapped)
        return int(kept[hits[0]]) if hits.size else None


def deduplicate(fingerprints: list[filter_pb2.Fingerprint], thresholds: Thresholds) -> list[filter_pb2.Duplicate]:
    """Duplicates among `fingerprints`, each pointing at the first item of its group.

    Text candidates come from prefix filtering (tokens ordered rarest first: two
    sets with Jaccard >= t must share a token among each one's first
    |x| - ceil(t*|x|) + 1), so a run of thousands is not compared pair by pair.
    """
    token_sets = [set(tokens_of(f.instruction_text)) for f in fingerprints]
    frequency = Counter(token for tokens in token_sets for token in tokens)
    t = thresholds.min_text_similarity
    index: dict[str, list[int]] = defaultdict(list)
    images = ImagePairIndex(fingerprints)
    group_of: list[int] = []
    duplicates: list[filter_pb2.Duplicate] = []
    for position, fingerprint in enumerate(fingerprints):
        tokens = token_sets[position]
        ordered = sorted(tokens, key=lambda token: (frequency[token], token))
        prefix = ordered[:len(ordered) - math.ceil(t * len(ordered)) + 1] if ordered else []
        match = None
        for earlier in sorted({k for token in prefix for k in index[token]}):
            score = similarity(tokens, token_sets[earlier])
            if score >= t:
                match = (earlier, f"instruction near-duplicate (token-set similarity {score:.2f})")
                break
        if match is None:
            earlier = images.match(position, thresholds.max_image_distance)
            if earlier is not None:
                match = (earlier, "image pair near-duplicate (perceptual hash)")
        group_of.append(position if match is None else group_of[match[0]])
        if match is not None:
            duplicates.append(filter_pb2.Duplicate(item_id=fingerprint.item_id,
                                                   duplicate_of=fingerprints[group_of[position]].item_id,
                                                   reason=f"{match[1]} of {fingerprints[match[0]].item_id}"))
        images.add(position)
        for token in prefix:
            index[token].append(position)
    return duplicates
