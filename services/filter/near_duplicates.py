"""Incremental near-duplicate detection whose answer does not depend on the
order items are added in.

The rule (the one the filter has always applied to a run in seed order): an
item is a near-duplicate when any item *earlier in seed order* is near it,
by instruction (token-set Jaccard similarity >= t) or by image pair (both
perceptual hashes within d bits, in either order). It then points at the
earliest such item (a text match before an image match) and, through it, at
its group's first item. So whether an item is kept depends only on its
neighbours and their orders, never on when they arrived: a later-arriving
item with a lower order turns its neighbours into duplicates, and nothing
turns a duplicate back.

Items with the same fingerprint (token set and both hashes) share one
*group*; only groups are indexed and compared. Each group remembers its
lowest-order member and, over itself and every neighbouring group, the
lowest member near it by text and by image. That is all the rule needs: an
item is a duplicate of the group's text best when that is earlier than it,
otherwise of the image best when that is earlier. A new group queries the
indexes once; an existing group queries them again only when its lowest
member changes, so 30,000 copies of one fingerprint cost one query.

Candidates come from two indexes and are then checked exactly, so the only
approximation is a candidate the first index never proposes:
- text: MinHash-LSH (datasketch signatures, banded into buckets). The bands
  are chosen per threshold so that a pair exactly at the threshold is missed
  with probability under 1e-6 (far less above it); for thresholds where no
  banding reaches that, every group is a candidate (exact, quadratic);
- images: a multi-index over the first image's hash: split into d + 1
  chunks, two hashes within d bits agree on at least one chunk (pigeonhole),
  and every near pair, same order or swapped, has a stored first hash near
  one of the query's two hashes.

`should_stop` is checked between items and inside long candidate loops, so a
caller whose client has gone (or whose deadline passed) stops the work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Hashable, Iterable

import numpy as np
from datasketch import MinHash

from mis.v1 import filter_pb2
from services.filter.fingerprints import Thresholds, similarity, tokens_of

NUM_PERM = 128
MINHASH_SEED = 1
MINHASH_SCHEME = "affine32"
# Largest chance that a pair exactly at the text threshold is never proposed.
MAX_MISS = 1e-6
# How many candidates are checked between two looks at `should_stop`.
STOP_CHECK_EVERY = 512

TEXT_REASON = "instruction near-duplicate (token-set similarity {score:.2f})"
IMAGE_REASON = "image pair near-duplicate (perceptual hash)"


class Stopped(RuntimeError):
    """The caller asked to stop (its client went away or its deadline passed)."""


@lru_cache(maxsize=None)
def bands_for(threshold: float, num_perm: int = NUM_PERM) -> tuple[int, int] | None:
    """(bands, rows) with the most rows per band whose miss chance at
    `threshold` is under MAX_MISS; None when no banding reaches it."""
    for rows in range(num_perm, 0, -1):
        bands = num_perm // rows
        if (1.0 - threshold ** rows) ** bands <= MAX_MISS:
            return bands, rows
    return None


@lru_cache(maxsize=None)
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    return MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, scheme=MINHASH_SCHEME).permutations


def chunk_masks(distance: int) -> list[tuple[int, int]]:
    """(shift, mask) of the distance + 1 chunks a 64-bit hash is split into."""
    parts = min(distance + 1, 64)
    sizes = [64 // parts + (1 if n < 64 % parts else 0) for n in range(parts)]
    masks, shift = [], 0
    for size in sizes:
        masks.append((shift, (1 << size) - 1))
        shift += size
    return masks


@dataclass(slots=True)
class Best:
    """The lowest-order item found near a group, and what to say about it."""

    order: Hashable
    item_id: str
    score: float = 1.0


@dataclass(slots=True)
class Group:
    tokens: frozenset[str]
    hashes: tuple[int, int] | None
    members: list[tuple[Hashable, str]] = field(default_factory=list)
    low: Best | None = None
    text_best: Best | None = None
    image_best: Best | None = None


def _lower(current: Best | None, candidate: Best) -> Best:
    return candidate if current is None or candidate.order < current.order else current


class NearDuplicateIndex:
    """Add items in any order, ask for the duplicates at any time."""

    def __init__(self, thresholds: Thresholds, should_stop: Callable[[], bool] | None = None) -> None:
        self.thresholds = thresholds
        self.should_stop = should_stop or (lambda: False)
        self.bands = bands_for(thresholds.min_text_similarity)
        self.chunks = chunk_masks(thresholds.max_image_distance)
        self.groups: list[Group] = []
        self.by_fingerprint: dict[tuple, int] = {}
        self.text_buckets: dict[int, int | list[int]] = {}
        self.image_buckets: dict[int, int | list[int]] = {}
        self.first_hash = np.zeros(64, dtype=np.uint64)
        self.second_hash = np.zeros(64, dtype=np.uint64)
        self.items = 0

    def __len__(self) -> int:
        return self.items

    # -- adding ----------------------------------------------------------------------------

    def add(self, order: Hashable, item_id: str, fingerprint: filter_pb2.Fingerprint) -> None:
        """Index one item; `order` is its place in seed order (unique, comparable)."""
        if self.should_stop():
            raise Stopped("near-duplicate search stopped")
        tokens = frozenset(tokens_of(fingerprint.instruction_text))
        hashes = ((int(fingerprint.image1_phash, 16), int(fingerprint.image2_phash, 16))
                  if fingerprint.image1_phash and fingerprint.image2_phash else None)
        key = (tokens, hashes)
        member = Best(order, item_id)
        self.items += 1
        index = self.by_fingerprint.get(key)
        if index is None:
            index = self._new_group(tokens, hashes)
            self.by_fingerprint[key] = index
        group = self.groups[index]
        group.members.append((order, item_id))
        if group.low is not None and group.low.order < order:
            return
        group.low = member
        group.text_best = _lower(group.text_best, member)
        if hashes is not None:
            group.image_best = _lower(group.image_best, member)
        self._spread(index, member)

    def _new_group(self, tokens: frozenset[str], hashes: tuple[int, int] | None) -> int:
        index = len(self.groups)
        self.groups.append(Group(tokens, hashes))
        for key in self._text_keys(tokens):
            _put(self.text_buckets, key, index)
        if hashes is not None:
            if index >= len(self.first_hash):
                self.first_hash = np.resize(self.first_hash, 2 * len(self.first_hash))
                self.second_hash = np.resize(self.second_hash, 2 * len(self.second_hash))
            self.first_hash[index], self.second_hash[index] = hashes
            for key in self._image_keys(hashes[0]):
                _put(self.image_buckets, key, index)
        return index

    def _spread(self, index: int, member: Best) -> None:
        """`member` is now the lowest of group `index`: tell its neighbours,
        and take their lowest members as candidates for its own bests."""
        group = self.groups[index]
        for other, score in self._text_neighbours(index):
            neighbour = self.groups[other]
            neighbour.text_best = _lower(neighbour.text_best, Best(member.order, member.item_id, score))
            group.text_best = _lower(group.text_best, Best(neighbour.low.order, neighbour.low.item_id, score))
        for other in self._image_neighbours(index):
            neighbour = self.groups[other]
            neighbour.image_best = _lower(neighbour.image_best, member)
            group.image_best = _lower(group.image_best, neighbour.low)

    # -- candidates ------------------------------------------------------------------------

    def _signature(self, tokens: frozenset[str]) -> np.ndarray:
        sketch = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, scheme=MINHASH_SCHEME,
                         permutations=_permutations())
        sketch.update_batch([token.encode() for token in sorted(tokens)])
        return sketch.hashvalues

    def _text_keys(self, tokens: frozenset[str]) -> list[int]:
        if self.bands is None:
            return [0]  # one bucket: every group is a candidate
        bands, rows = self.bands
        signature = self._signature(tokens)
        return [hash((band, signature[band * rows:(band + 1) * rows].tobytes())) for band in range(bands)]

    def _image_keys(self, value: int) -> list[int]:
        return [(position << 64) | ((value >> shift) & mask)
                for position, (shift, mask) in enumerate(self.chunks)]

    def _text_neighbours(self, index: int) -> Iterable[tuple[int, float]]:
        group = self.groups[index]
        threshold = self.thresholds.min_text_similarity
        candidates = _gather(self.text_buckets, self._text_keys(group.tokens))
        candidates.discard(index)
        for checked, other in enumerate(candidates):
            if checked % STOP_CHECK_EVERY == STOP_CHECK_EVERY - 1 and self.should_stop():
                raise Stopped("near-duplicate search stopped")
            score = similarity(group.tokens, self.groups[other].tokens)
            if score >= threshold:
                yield other, score

    def _image_neighbours(self, index: int) -> list[int]:
        hashes = self.groups[index].hashes
        if hashes is None:
            return []
        first, second = hashes
        candidates = _gather(self.image_buckets, self._image_keys(first) + self._image_keys(second))
        candidates.discard(index)
        if not candidates:
            return []
        if self.should_stop():
            raise Stopped("near-duplicate search stopped")
        found = np.fromiter(candidates, dtype=np.int64, count=len(candidates))
        limit = self.thresholds.max_image_distance
        stored1, stored2 = self.first_hash[found], self.second_hash[found]
        mine1, mine2 = np.uint64(first), np.uint64(second)
        same = (np.bitwise_count(stored1 ^ mine1) <= limit) & (np.bitwise_count(stored2 ^ mine2) <= limit)
        swapped = (np.bitwise_count(stored1 ^ mine2) <= limit) & (np.bitwise_count(stored2 ^ mine1) <= limit)
        return [int(g) for g in found[same | swapped]]

    # -- the answer ------------------------------------------------------------------------

    def duplicates(self) -> list[filter_pb2.Duplicate]:
        """Every duplicate, in order, pointing at its group's first item."""
        matches = []
        for group in self.groups:
            for order, item_id in group.members:
                if group.text_best.order < order:
                    best = group.text_best
                    reason = TEXT_REASON.format(score=best.score)
                elif group.image_best is not None and group.image_best.order < order:
                    best, reason = group.image_best, IMAGE_REASON
                else:
                    continue
                matches.append((order, item_id, best, reason))
        matches.sort(key=lambda match: match[0])
        root: dict[Hashable, str] = {}
        found = []
        for order, item_id, best, reason in matches:
            first = root.get(best.order, best.item_id)
            root[order] = first
            found.append(filter_pb2.Duplicate(item_id=item_id, duplicate_of=first,
                                              reason=f"{reason} of {best.item_id}"))
        return found


def _put(buckets: dict[int, int | list[int]], key: int, index: int) -> None:
    held = buckets.get(key)
    if held is None:
        buckets[key] = index  # most buckets hold one group: no list for them
    elif isinstance(held, int):
        buckets[key] = [held, index]
    else:
        held.append(index)


def _gather(buckets: dict[int, int | list[int]], keys: list[int]) -> set[int]:
    found: set[int] = set()
    for key in keys:
        held = buckets.get(key)
        if held is None:
            continue
        if isinstance(held, int):
            found.add(held)
        else:
            found.update(held)
    return found


def find_duplicates(fingerprints: list[filter_pb2.Fingerprint], thresholds: Thresholds,
                    should_stop: Callable[[], bool] | None = None) -> list[filter_pb2.Duplicate]:
    """Duplicates among `fingerprints`, their order in the list being their seed order."""
    index = NearDuplicateIndex(thresholds, should_stop)
    for position, fingerprint in enumerate(fingerprints):
        index.add(position, fingerprint.item_id, fingerprint)
    return index.duplicates()


__all__ = ["NearDuplicateIndex", "Stopped", "find_duplicates", "bands_for", "chunk_masks"]
