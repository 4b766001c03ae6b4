"""Semantic near-duplicates of image pairs: the same embeddings the retriever
searches with (CLIP's image tower, or the offline palette embedder), so a
pair re-drawn with other seeds or prompts is found where its perceptual
hashes differ in many bits.

The rule mirrors the pixel-hash rule of near_duplicates.py: an item is a
semantic near-duplicate when an item *earlier in order* has both images
near its two, in the same order or swapped (cosine similarity >= t for
both), and it then points at the earliest such item and, through it, at that
item's first. The answer depends only on the items and their orders, never on
the order they were added in. Candidates come from an exact inner-product
search over every stored first image (both of a new item's images query it,
so a swapped pair is found too), then both images are checked exactly; the
search is exact numpy, in blocks of queries so memory stays bounded.

Plain Python, no gRPC: the dedup calls `semantic_duplicates` with the
embeddings its fingerprints carry (see docs/retrieval.md for the wiring).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Protocol, Sequence

import numpy as np

from mis.v1 import filter_pb2

DEFAULT_MIN_SIMILARITY = 0.95
REASON = "images semantically near (cosine {first:.3f}, {second:.3f})"


class ImageEmbedder(Protocol):
    """What the retriever's embedders offer (ClipEmbedder, PaletteEmbedder)."""

    def embed_images(self, images: Sequence) -> np.ndarray: ...


@dataclass(frozen=True)
class EmbeddedPair:
    """One item's two unit image embeddings, with its order (seed order)."""

    order: Hashable
    item_id: str
    image1: np.ndarray
    image2: np.ndarray


def embed_pairs(embedder: ImageEmbedder, items: Sequence[tuple[Hashable, str, bytes, bytes]]
                ) -> list[EmbeddedPair]:
    """(order, item id, image1 bytes, image2 bytes) to embedded pairs."""
    import io

    from PIL import Image

    if not items:
        return []
    images = [Image.open(io.BytesIO(data)) for _, _, first, second in items for data in (first, second)]
    rows = np.asarray(embedder.embed_images(images), dtype=np.float32)
    return [EmbeddedPair(order, item_id, rows[2 * n], rows[2 * n + 1])
            for n, (order, item_id, _, _) in enumerate(items)]


def _similarity(a: EmbeddedPair, b: EmbeddedPair) -> tuple[float, float]:
    """Both images' cosine, in the better of the two orders (the one whose lower cosine is higher)."""
    same = (float(a.image1 @ b.image1), float(a.image2 @ b.image2))
    swapped = (float(a.image1 @ b.image2), float(a.image2 @ b.image1))
    return max(same, swapped, key=min)


def _nearest(queries: np.ndarray, rows: np.ndarray, k: int, block: int = 1024) -> np.ndarray:
    """The ids of the k rows with the highest inner product per query (exact)."""
    found = []
    for start in range(0, len(queries), block):
        scores = queries[start:start + block] @ rows.T
        found.append(np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < rows.shape[0]
                     else np.tile(np.arange(rows.shape[0]), (len(scores), 1)))
    return np.concatenate(found)


def semantic_duplicates(pairs: Sequence[EmbeddedPair], min_similarity: float = DEFAULT_MIN_SIMILARITY,
                        candidates: int = 64) -> list[filter_pb2.Duplicate]:
    """Every semantic near-duplicate, in order, pointing at its group's first item.

    `candidates` bounds the first images each query looks at; every pair within
    the threshold is among them unless more than that many first images are
    nearer than the threshold to one query image (then the nearest are kept)."""
    if not 0 < min_similarity <= 1:
        raise ValueError(f"min_similarity must be above 0 and at most 1, got {min_similarity}")
    ordered = sorted(pairs, key=lambda pair: pair.order)
    if len(ordered) < 2:
        return []
    firsts = np.stack([pair.image1 for pair in ordered]).astype(np.float32)
    queries = np.stack([v for pair in ordered for v in (pair.image1, pair.image2)]).astype(np.float32)
    ids = _nearest(queries, firsts, min(candidates, len(ordered)))
    matches = []
    for position, pair in enumerate(ordered):
        nearest = set(ids[2 * position].tolist()) | set(ids[2 * position + 1].tolist())
        best = None
        for other in sorted(i for i in nearest if i < position):
            score = _similarity(pair, ordered[other])
            if min(score) >= min_similarity:
                best = (other, score)
                break
        if best is not None:
            matches.append((position, best))
    root: dict[int, str] = {}
    found = []
    for position, (other, score) in matches:
        first = root.get(other, ordered[other].item_id)
        root[position] = first
        found.append(filter_pb2.Duplicate(
            item_id=ordered[position].item_id, duplicate_of=first,
            reason=f"{REASON.format(first=score[0], second=score[1])} of {ordered[other].item_id}"))
    return found
