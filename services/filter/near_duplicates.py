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
member changes, so 30,000 copies of one fingerprint cost one query. Of the
candidates, only two kinds need an exact check: groups whose best is later
than the newcomer (it may become their best) and, lowest first until one
matches, groups lower than the newcomer's own best. Items arriving roughly in
seed order leave the first kind nearly empty and stop the second at its
first match, so a dense cluster costs little more than a sparse one. Orders
are integers (seed position), compared in numpy over all candidates at once.

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

`should_stop` is checked before each item and each query of the indexes, so
a caller whose client has gone (or whose deadline passed) stops the work.
Bucket keys are stable digests (not the per-process `hash`): a saved index loads (index_state.py).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Callable

import numpy as np
from datasketch import MinHash

from mis.v1 import filter_pb2
from services.filter.fingerprints import Thresholds, tokens_of

NUM_PERM = 128
MINHASH_SEED = 1
MINHASH_SCHEME = "affine32"
# Largest chance that a pair exactly at the text threshold is never proposed.
MAX_MISS = 1e-6
NONE = np.iinfo(np.int64).max  # no best yet

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

    order: int
    item_id: str
    score: float = 1.0


@dataclass(slots=True)
class TextGroup:
    """The items with one instruction token set (sorted vocabulary ids)."""

    tokens: tuple[int, ...]
    members: list[tuple[int, str, int]] = field(default_factory=list)  # order, id, image group or -1
    low: Best | None = None
    best: Best | None = None


@dataclass(slots=True)
class ImageGroup:
    """The items with one pair of image hashes."""

    hashes: tuple[int, int]
    low: Best | None = None
    best: Best | None = None


class GroupOrders:
    """Per group, in numpy: the order of its lowest member and of its best."""

    def __init__(self) -> None:
        self.low = np.full(64, NONE, dtype=np.int64)
        self.best = np.full(64, NONE, dtype=np.int64)

    def make_room(self, index: int) -> None:
        if index >= len(self.low):
            extra = np.full(len(self.low), NONE, dtype=np.int64)
            self.low, self.best = np.concatenate([self.low, extra]), np.concatenate([self.best, extra])


class NearDuplicateIndex:
    """Add items in any order, ask for the duplicates at any time."""

    def __init__(self, thresholds: Thresholds, should_stop: Callable[[], bool] | None = None) -> None:
        self.thresholds = thresholds
        self.should_stop = should_stop or (lambda: False)
        self.bands = bands_for(thresholds.min_text_similarity)
        self.chunks = chunk_masks(thresholds.max_image_distance)
        self.text_groups: list[TextGroup] = []
        self.image_groups: list[ImageGroup] = []
        self.by_tokens: dict[tuple[int, ...], int] = {}
        self.by_hashes: dict[tuple[int, int], int] = {}
        self.text_buckets: dict[int, int | list[int]] = {}
        self.image_buckets: dict[int, int | list[int]] = {}
        self.text_orders = GroupOrders()
        self.image_orders = GroupOrders()
        self.first_hash = np.zeros(64, dtype=np.uint64)
        self.second_hash = np.zeros(64, dtype=np.uint64)
        # Every text group's token ids end to end, so similarities are computed in numpy.
        self.vocabulary: dict[str, int] = {}
        self.token_ids = np.zeros(1024, dtype=np.int32)
        self.token_start = np.zeros(64, dtype=np.int64)
        self.token_count = np.zeros(64, dtype=np.int64)
        self.tokens_used = 0
        self.marked = np.zeros(1024, dtype=bool)  # scratch: the tokens of the group being compared
        # One MinHash, cleared for each signature: making one costs more than hashing a few tokens.
        self.sketch = MinHash(num_perm=NUM_PERM, seed=MINHASH_SEED, scheme=MINHASH_SCHEME,
                              permutations=_permutations())
        self.items = 0

    def __len__(self) -> int:
        return self.items

    # -- adding ----------------------------------------------------------------------------

    def add(self, order: int, item_id: str, fingerprint: filter_pb2.Fingerprint) -> None:
        """Index one item; `order` is its place in seed order (a unique integer)."""
        if self.should_stop():
            raise Stopped("near-duplicate search stopped")
        tokens = tuple(sorted({self.vocabulary.setdefault(token, len(self.vocabulary))
                               for token in tokens_of(fingerprint.instruction_text)}))
        hashes = ((int(fingerprint.image1_phash, 16), int(fingerprint.image2_phash, 16))
                  if fingerprint.image1_phash and fingerprint.image2_phash else None)
        member = Best(order, item_id)
        self.items += 1
        text_keys = None
        text = self.by_tokens.get(tokens)
        if text is None:
            text_keys = self._text_keys(tokens)
            text = self.by_tokens[tokens] = self._new_text_group(tokens, text_keys)
        image = -1
        if hashes is not None:
            image = self.by_hashes.get(hashes, -1)
            if image < 0:
                image = self.by_hashes[hashes] = self._new_image_group(hashes)
        group = self.text_groups[text]
        group.members.append((order, item_id, image))
        if group.low is None or order < group.low.order:
            group.low = member
            self.text_orders.low[text] = order
            self._set_text_best(text, member)
            self._spread_text(text, member, text_keys)
        if image >= 0 and (self.image_groups[image].low is None or order < self.image_groups[image].low.order):
            self.image_groups[image].low = member
            self.image_orders.low[image] = order
            self._set_image_best(image, member)
            self._spread_image(image, member)

    def _new_text_group(self, tokens: tuple[int, ...], text_keys: list[int]) -> int:
        index = len(self.text_groups)
        self.text_groups.append(TextGroup(tokens))
        self.text_orders.make_room(index)
        if index >= len(self.token_start):
            self.token_start = np.resize(self.token_start, 2 * len(self.token_start))
            self.token_count = np.resize(self.token_count, 2 * len(self.token_count))
        while self.tokens_used + len(tokens) > len(self.token_ids):
            self.token_ids = np.resize(self.token_ids, 2 * len(self.token_ids))
        self.token_ids[self.tokens_used:self.tokens_used + len(tokens)] = tokens
        self.token_start[index], self.token_count[index] = self.tokens_used, len(tokens)
        self.tokens_used += len(tokens)
        for key in text_keys:
            _put(self.text_buckets, key, index)
        return index

    def _new_image_group(self, hashes: tuple[int, int]) -> int:
        index = len(self.image_groups)
        self.image_groups.append(ImageGroup(hashes))
        self.image_orders.make_room(index)
        if index >= len(self.first_hash):
            self.first_hash = np.resize(self.first_hash, 2 * len(self.first_hash))
            self.second_hash = np.resize(self.second_hash, 2 * len(self.second_hash))
        self.first_hash[index], self.second_hash[index] = hashes
        for key in self._image_keys(hashes[0]):
            _put(self.image_buckets, key, index)
        return index

    def _set_text_best(self, index: int, best: Best) -> None:
        group = self.text_groups[index]
        if group.best is None or best.order < group.best.order:
            group.best = best
            self.text_orders.best[index] = best.order

    def _set_image_best(self, index: int, best: Best) -> None:
        group = self.image_groups[index]
        if group.best is None or best.order < group.best.order:
            group.best = best
            self.image_orders.best[index] = best.order

    def _spread_text(self, index: int, member: Best, text_keys: list[int] | None) -> None:
        """`member` is now the lowest of text group `index`: it may be the best
        of neighbours whose best is later, and the lowest neighbour earlier
        than the group's own best becomes that best."""
        if self.should_stop():
            raise Stopped("near-duplicate search stopped")
        orders = self.text_orders
        candidates = self._text_candidates(index, text_keys)
        wanted = candidates[(orders.best[candidates] > member.order) | (orders.low[candidates] < orders.best[index])]
        if not wanted.size:
            return
        scores = self._similarities(index, wanted)
        near = scores >= self.thresholds.min_text_similarity
        later = near & (orders.best[wanted] > member.order)
        for other, score in zip(wanted[later].tolist(), scores[later].tolist()):
            self._set_text_best(other, Best(member.order, member.item_id, score))
        earlier = np.flatnonzero(near & (orders.low[wanted] < orders.best[index]))
        if earlier.size:
            pick = earlier[np.argmin(orders.low[wanted[earlier]])]
            self._set_text_best(index, replace(self.text_groups[wanted[pick]].low, score=float(scores[pick])))

    def _spread_image(self, index: int, member: Best) -> None:
        """The same for image group `index`, whose near pairs are checked at once."""
        orders = self.image_orders
        near = self._image_neighbours(index)
        if not near.size:
            return
        for other in near[orders.best[near] > member.order].tolist():
            self._set_image_best(other, member)
        lowest = near[np.argmin(orders.low[near])]
        if orders.low[lowest] < orders.best[index]:
            self._set_image_best(index, self.image_groups[lowest].low)

    def _similarities(self, index: int, others: np.ndarray) -> np.ndarray:
        """Jaccard similarity of text group `index`'s token set with each of
        `others`' (1.0 for two empty sets), as `similarity` computes it, all at once."""
        mine = self.token_ids[self.token_start[index]:self.token_start[index] + self.token_count[index]]
        counts = self.token_count[others]
        total = int(counts.sum())
        if total:
            ends = np.cumsum(counts)
            positions = np.repeat(self.token_start[others] - (ends - counts), counts) + np.arange(total)
            if len(self.marked) < len(self.vocabulary):
                self.marked = np.zeros(2 * len(self.vocabulary), dtype=bool)
            self.marked[mine] = True
            hits = self.marked[self.token_ids[positions]]
            self.marked[mine] = False
            shared = np.bincount(np.repeat(np.arange(len(others)), counts), weights=hits,
                                 minlength=len(others)).astype(np.int64)
        else:
            shared = np.zeros(len(others), dtype=np.int64)
        union = len(mine) + counts - shared
        return np.where(union == 0, 1.0, shared / np.maximum(union, 1))

    def _signature(self, tokens: tuple[int, ...]) -> np.ndarray:
        self.sketch.clear()
        self.sketch.update_batch([token.to_bytes(4, "little") for token in tokens])
        return self.sketch.hashvalues

    def _text_keys(self, tokens: tuple[int, ...]) -> list[int]:
        if self.bands is None:
            return [0]  # one bucket: every group is a candidate
        bands, rows = self.bands
        signature = self._signature(tokens)
        return [(band << 56) | int.from_bytes(hashlib.blake2b(signature[band * rows:(band + 1) * rows]
                                                              .tobytes(), digest_size=7).digest(), "little")
                for band in range(bands)]

    def _image_keys(self, value: int) -> list[int]:
        return [(position << 64) | ((value >> shift) & mask)
                for position, (shift, mask) in enumerate(self.chunks)]

    def _text_candidates(self, index: int, text_keys: list[int] | None) -> np.ndarray:
        keys = text_keys if text_keys is not None else self._text_keys(self.text_groups[index].tokens)
        candidates = _gather(self.text_buckets, keys)
        candidates.discard(index)
        return np.fromiter(candidates, dtype=np.int64, count=len(candidates))

    def _image_neighbours(self, index: int) -> np.ndarray:
        """The groups whose image pair is near this group's, all checked at once."""
        first, second = self.image_groups[index].hashes
        candidates = _gather(self.image_buckets, self._image_keys(first) + self._image_keys(second))
        candidates.discard(index)
        if not candidates:
            return np.zeros(0, dtype=np.int64)
        if self.should_stop():
            raise Stopped("near-duplicate search stopped")
        found = np.fromiter(candidates, dtype=np.int64, count=len(candidates))
        limit = self.thresholds.max_image_distance
        stored1, stored2 = self.first_hash[found], self.second_hash[found]
        mine1, mine2 = np.uint64(first), np.uint64(second)
        same = (np.bitwise_count(stored1 ^ mine1) <= limit) & (np.bitwise_count(stored2 ^ mine2) <= limit)
        swapped = (np.bitwise_count(stored1 ^ mine2) <= limit) & (np.bitwise_count(stored2 ^ mine1) <= limit)
        return found[same | swapped]

    # -- the answer ------------------------------------------------------------------------

    def duplicates(self) -> list[filter_pb2.Duplicate]:
        """Every duplicate, in order, pointing at its group's first item."""
        matches = []
        for group in self.text_groups:
            for order, item_id, image in group.members:
                if group.best.order < order:
                    best = group.best
                    reason = TEXT_REASON.format(score=best.score)
                elif image >= 0 and self.image_groups[image].best.order < order:
                    best, reason = self.image_groups[image].best, IMAGE_REASON
                else:
                    continue
                matches.append((order, item_id, best, reason))
        matches.sort(key=lambda match: match[0])
        root: dict[int, str] = {}
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
        if isinstance(held, int):
            found.add(held)
        elif held is not None:
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
