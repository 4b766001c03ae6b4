"""Semantic near-duplicates of image pairs: the same embeddings the retriever
searches with (CLIP's image tower, or the offline palette embedder), so a
pair re-drawn with other seeds or prompts, re-encoded, shifted or recoloured
is found where its perceptual hashes differ in many bits.

The rule mirrors the pixel-hash rule of near_duplicates.py: an item is a
semantic near-duplicate when an item *earlier in order* has both images
near its two, in the same order or swapped (cosine similarity >= t for
both); it then points at the earliest such item and, through it, at that
item's first. The answer depends only on the items and their orders, never
on the order they were added in: `SemanticIndex.add` only stores, and
`duplicates` sorts by order before it compares.

Items with the same two embeddings share one group (a picture used again
costs one query, not one per copy). Candidates are every earlier group's
first image within the threshold of either of a group's images (so a swapped
pair is found too), by exact range search: numpy's matrix products, a block
of queries at a time against the groups before the block's end, so memory
stays bounded (FAISS's flat range search, `use_faiss`, proposes the same
candidates; it was 3x slower on 10 000 pairs of 768 dims here). The candidates' both images
are then checked exactly in numpy, lowest order first until one matches, so
both engines give the same answer. Exact search is quadratic in the run's
distinct pairs; see docs/retrieval.md for the sizes that fit.

Embeddings travel in `Fingerprint.image_embeddings` as two float16 unit rows
(`pack_pair`); the filter makes them at classify time when asked
(`FilterOptions.image_embeddings`) with its image embedder (`load_embedder`).
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Hashable, Protocol, Sequence

import numpy as np

from mis.v1 import filter_pb2
from services.filter.near_duplicates import Stopped

log = logging.getLogger("mis.filter.semantic")

DEFAULT_MIN_SIMILARITY = 0.95
REASON = "images semantically near (cosine {first:.3f}, {second:.3f})"
EMBEDDERS = ("none", "offline", "clip")
BLOCK = 128        # groups queried at once
CHECK_CHUNK = 256  # candidates checked exactly at once
# Candidates are proposed a little below the threshold, so float rounding in
# the search engine never hides a pair the exact check would accept.
SLACK = 1e-3
UNIT_TOLERANCE = 1e-2


class ImageEmbedder(Protocol):
    """What the retriever's embedders offer (ClipEmbedder, PaletteEmbedder)."""

    name: str

    def embed_images(self, images: Sequence) -> np.ndarray: ...


def load_embedder(kind: str, clip_path: Path | None) -> ImageEmbedder | None:
    """The filter's image embedder: none, the offline palette, or a local CLIP folder."""
    if kind == "none":
        return None
    if kind == "offline":
        from services.retriever.offline import PaletteEmbedder
        return PaletteEmbedder()
    if kind != "clip":
        raise ValueError(f"image embedder {kind!r}: choose from {', '.join(EMBEDDERS)}")
    if clip_path is None:
        raise ValueError("the clip image embedder needs a CLIP model folder")
    from services.retriever.embeddings import ClipEmbedder
    return ClipEmbedder.load(clip_path)


def embed_pair(embedder: ImageEmbedder, first: bytes, second: bytes, max_pixels: int | None = None) -> bytes:
    """Both images' embeddings as a Fingerprint carries them. The bytes are
    decoded through `decode_image` (bombs and truncated bodies refused). CPU-bound."""
    from services.common.images import MAX_PIXELS, decode_image

    images = [decode_image(data, max(len(data), 1), max_pixels or MAX_PIXELS) for data in (first, second)]
    return pack_pair(np.asarray(embedder.embed_images(images), dtype=np.float32))


def pack_pair(rows: np.ndarray) -> bytes:
    """Two unit rows as little-endian float16 bytes, image1's first."""
    rows = np.asarray(rows, dtype=np.float32)
    if rows.ndim != 2 or rows.shape[0] != 2:
        raise ValueError(f"expected two embedding rows, got shape {rows.shape}")
    return rows.astype("<f2").tobytes()


def unpack_pair(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """`pack_pair`'s bytes back as two float32 unit rows; ValueError says what is wrong."""
    if not data or len(data) % 4:
        raise ValueError(f"{len(data)} bytes is not two float16 rows of one dimension")
    rows = np.frombuffer(data, dtype="<f2").astype(np.float32).reshape(2, -1)
    norms = np.linalg.norm(rows, axis=1)
    if not np.all(np.isfinite(rows)) or np.any(np.abs(norms - 1) > UNIT_TOLERANCE):
        raise ValueError("the rows are not unit embeddings (norms "
                         f"{', '.join(f'{n:.3f}' for n in norms)})")
    return rows[0] / norms[0], rows[1] / norms[1]


@dataclass(frozen=True)
class EmbeddedPair:
    """One item's two unit image embeddings, with its order (seed order)."""

    order: Hashable
    item_id: str
    image1: np.ndarray
    image2: np.ndarray


def embed_pairs(embedder: ImageEmbedder, items: Sequence[tuple[Hashable, str, bytes, bytes]]
                ) -> list[EmbeddedPair]:
    """(order, item id, image1 bytes, image2 bytes) to embedded pairs, as the
    filter embeds them (float16 in a fingerprint and back)."""
    pairs = []
    for order, item_id, first, second in items:
        image1, image2 = unpack_pair(embed_pair(embedder, first, second))
        pairs.append(EmbeddedPair(order, item_id, image1, image2))
    return pairs


class RangeSearch:
    """Rows added in order; a query finds every added row with inner product
    >= a threshold. numpy, or with `use_faiss` FAISS's exact flat index: the
    same candidates, to rounding."""

    def __init__(self, dimension: int, use_faiss: bool = False) -> None:
        self.faiss = None
        if use_faiss:
            import faiss
            self.faiss = faiss.IndexFlatIP(dimension)
        self.rows = np.zeros((0, dimension), dtype=np.float32)

    def add(self, rows: np.ndarray) -> None:
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        if self.faiss is not None:
            self.faiss.add(rows)
        else:
            self.rows = np.concatenate([self.rows, rows])

    def within(self, queries: np.ndarray, threshold: float) -> list[np.ndarray]:
        """Per query, the ids of the rows at or above `threshold`."""
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        if self.faiss is not None:
            limits, _, ids = self.faiss.range_search(queries, threshold)
            return [ids[limits[n]:limits[n + 1]] for n in range(len(queries))]
        scores = queries @ self.rows.T
        return [np.flatnonzero(row >= threshold) for row in scores]


def _match_scores(first: np.ndarray, second: np.ndarray, candidates: np.ndarray,
                  firsts: np.ndarray, seconds: np.ndarray) -> np.ndarray:
    """Per candidate, its two cosines in the better order (the one whose lower
    cosine is higher), shape (n, 2)."""
    f, s = firsts[candidates], seconds[candidates]
    same = np.stack([f @ first, s @ second], axis=1)
    swapped = np.stack([s @ first, f @ second], axis=1)
    return np.where((same.min(axis=1) >= swapped.min(axis=1))[:, None], same, swapped)


def semantic_duplicates(pairs: Sequence[EmbeddedPair], min_similarity: float = DEFAULT_MIN_SIMILARITY,
                        should_stop: Callable[[], bool] | None = None,
                        use_faiss: bool = False) -> list[filter_pb2.Duplicate]:
    """Every semantic near-duplicate, in order, pointing at its group's first item.
    Raises Stopped when `should_stop` turns true between blocks."""
    if not 0 < min_similarity <= 1:
        raise ValueError(f"min_similarity must be above 0 and at most 1, got {min_similarity}")
    stop = should_stop or (lambda: False)
    ordered = sorted(pairs, key=lambda pair: pair.order)
    # One group per distinct pair of rows; a group's first member is its lowest.
    group_of: dict[bytes, int] = {}
    members: list[list[int]] = []
    for position, pair in enumerate(ordered):
        key = pair.image1.tobytes() + pair.image2.tobytes()
        group = group_of.setdefault(key, len(members))
        if group == len(members):
            members.append([])
        members[group].append(position)
    if len(ordered) < 2:
        return []
    firsts = np.stack([ordered[m[0]].image1 for m in members]).astype(np.float32)
    seconds = np.stack([ordered[m[0]].image2 for m in members]).astype(np.float32)
    best = _group_bests(firsts, seconds, min_similarity, stop, use_faiss)
    matches: list[tuple[int, int, tuple[float, float]]] = []  # position, earlier position, cosines
    for group, positions in enumerate(members):
        found = best.get(group)
        if found is not None:
            matches.append((positions[0], members[found[0]][0], found[1]))
        # A later copy of the same pair: its group's own best if that is earlier, else the group's first.
        for position in positions[1:]:
            matches.append((position, members[found[0]][0], found[1]) if found is not None
                           else (position, positions[0], (1.0, 1.0)))
    matches.sort()
    root: dict[int, str] = {}
    duplicates = []
    for position, other, score in matches:
        first = root.get(other, ordered[other].item_id)
        root[position] = first
        duplicates.append(filter_pb2.Duplicate(
            item_id=ordered[position].item_id, duplicate_of=first,
            reason=f"{REASON.format(first=score[0], second=score[1])} of {ordered[other].item_id}"))
    return duplicates


def _group_bests(firsts: np.ndarray, seconds: np.ndarray, min_similarity: float,
                 stop: Callable[[], bool], use_faiss: bool) -> dict[int, tuple[int, tuple[float, float]]]:
    """Per group (in order of their first members), the lowest earlier group
    whose both images are near its two, with the two cosines."""
    search = RangeSearch(firsts.shape[1], use_faiss)
    best: dict[int, tuple[int, tuple[float, float]]] = {}
    for start in range(0, len(firsts), BLOCK):
        if stop():
            raise Stopped("semantic near-duplicate search stopped")
        end = min(start + BLOCK, len(firsts))
        search.add(firsts[start:end])
        near_first = search.within(firsts[start:end], min_similarity - SLACK)
        near_second = search.within(seconds[start:end], min_similarity - SLACK)
        for offset in range(end - start):
            group = start + offset
            candidates = np.union1d(near_first[offset], near_second[offset]).astype(np.int64)
            candidates = candidates[candidates < group]
            for chunk in range(0, len(candidates), CHECK_CHUNK):
                part = candidates[chunk:chunk + CHECK_CHUNK]
                scores = _match_scores(firsts[group], seconds[group], part, firsts, seconds)
                hits = np.flatnonzero(scores.min(axis=1) >= min_similarity)
                if hits.size:
                    best[group] = (int(part[hits[0]]), (float(scores[hits[0], 0]), float(scores[hits[0], 1])))
                    break
    return best


class SemanticIndex:
    """Add fingerprints in any order, ask for the semantic duplicates at the end.

    A fingerprint without embeddings, or made by another embedder than the
    first one added, is left to the pixel and text rules (counted in
    `skipped` and logged): the Deduplicate RPC refuses such a run up front,
    a run in the coordinator only loses this rule for those samples."""

    def __init__(self, min_similarity: float, should_stop: Callable[[], bool] | None = None,
                 use_faiss: bool = False) -> None:
        if not 0 < min_similarity <= 1:
            raise ValueError(f"min_similarity must be above 0 and at most 1, got {min_similarity}")
        self.min_similarity = min_similarity
        self.should_stop = should_stop
        self.use_faiss = use_faiss
        self.embedder = ""
        self.pairs: list[EmbeddedPair] = []
        self.skipped = 0

    def add(self, order: int, item_id: str, fingerprint: filter_pb2.Fingerprint) -> None:
        if not fingerprint.image_embeddings or (self.embedder and fingerprint.image_embedder != self.embedder):
            self.skipped += 1
            return
        try:
            image1, image2 = unpack_pair(fingerprint.image_embeddings)
        except ValueError:
            self.skipped += 1
            return
        if self.pairs and image1.shape != self.pairs[0].image1.shape:
            self.skipped += 1
            return
        self.embedder = self.embedder or fingerprint.image_embedder
        # float16 in memory, as the fingerprint carried them (to rounding).
        self.pairs.append(EmbeddedPair(order, item_id, image1.astype(np.float16), image2.astype(np.float16)))

    def duplicates(self) -> list[filter_pb2.Duplicate]:
        if self.skipped:
            log.warning("fingerprints without usable image embeddings were left to the pixel and text rules",
                        extra={"skipped": self.skipped, "embedder": self.embedder})
        pairs = [EmbeddedPair(p.order, p.item_id, p.image1.astype(np.float32), p.image2.astype(np.float32))
                 for p in self.pairs]
        return semantic_duplicates(pairs, self.min_similarity, self.should_stop, self.use_faiss)
