"""The dedup of a run in plain Python: every near-duplicate rule that is on,
as one index (`RunDeduplication`, the coordinator's as samples finish), and
the Deduplicate RPC over it: validate a run's fingerprints and the
thresholds (0 means the service default), then find near-duplicates,
stopping when `should_stop` says so.

The rules: instruction text and pixel hashes (near_duplicates.py), and, when
`min_image_similarity` is set, image embeddings (semantic.py). Each decides
by the seed-order rule (an item is a duplicate when an earlier one is near
it), so their union does too: the kept set depends only on the items and
their orders, never on the order they finished in."""

from __future__ import annotations

import re
from typing import Callable

from mis.v1 import filter_pb2
from services.common.errors import InvalidArgument, require
from services.filter.fingerprints import Thresholds
from services.filter.near_duplicates import NearDuplicateIndex
from services.filter.semantic import SemanticIndex, unpack_pair

_HEX = re.compile(r"[0-9a-f]{16}")


class RunDeduplication:
    """Add fingerprints in any order (`order`: seed position, unique), ask for
    the duplicates at any time; the interface of NearDuplicateIndex."""

    def __init__(self, thresholds: Thresholds, should_stop: Callable[[], bool] | None = None,
                 use_faiss: bool = False) -> None:
        self.hashes = NearDuplicateIndex(thresholds, should_stop)
        self.semantic = (SemanticIndex(thresholds.min_image_similarity, should_stop, use_faiss)
                         if thresholds.min_image_similarity else None)
        self.orders: dict[str, int] = {}  # only needed to merge two rules' answers

    def __len__(self) -> int:
        return len(self.hashes)

    def add(self, order: int, item_id: str, fingerprint: filter_pb2.Fingerprint) -> None:
        self.hashes.add(order, item_id, fingerprint)
        if self.semantic is not None:
            self.semantic.add(order, item_id, fingerprint)
            self.orders[item_id] = order

    def duplicates(self) -> list[filter_pb2.Duplicate]:
        found = self.hashes.duplicates()
        if self.semantic is None:
            return found
        return merged(found, self.semantic.duplicates(), self.orders)


def merged(first_rules: list[filter_pb2.Duplicate], second_rules: list[filter_pb2.Duplicate],
           orders: dict[str, int]) -> list[filter_pb2.Duplicate]:
    """Every item either answer names, in order. Each answer points at its
    rule's group's first item, which the other rule may find a duplicate: an
    item points at the earlier of the two it is named a duplicate of (the
    first answer's on a tie), and through it at an item neither rule finds a
    duplicate. The kept set is the union's whatever the pointers say."""
    named: dict[str, filter_pb2.Duplicate] = {}
    for duplicate in (*first_rules, *second_rules):
        held = named.get(duplicate.item_id)
        if held is None or orders[duplicate.duplicate_of] < orders[held.duplicate_of]:
            named[duplicate.item_id] = duplicate
    root: dict[str, str] = {}
    answer = []
    for item_id in sorted(named, key=orders.__getitem__):
        duplicate = named[item_id]
        first = root.get(duplicate.duplicate_of, duplicate.duplicate_of)
        root[item_id] = first
        answer.append(filter_pb2.Duplicate(item_id=item_id, duplicate_of=first, reason=duplicate.reason))
    return answer


def thresholds_of(request: filter_pb2.DeduplicateRequest, defaults: Thresholds) -> Thresholds:
    distance = request.max_image_distance or defaults.max_image_distance
    require(0 <= distance <= 64, "max_image_distance", f"must be between 0 and 64, got {distance}")
    similarity = request.min_text_similarity or defaults.min_text_similarity
    require(0 < similarity <= 1, "min_text_similarity", f"must be above 0 and at most 1, got {similarity}")
    images = request.min_image_similarity or defaults.min_image_similarity
    require(0 <= images <= 1, "min_image_similarity",
            f"must be between 0 and 1 (0: the service default, off unless set), got {images}")
    return Thresholds(distance, similarity, images)


def check_fingerprints(fingerprints, max_items: int, semantic: bool = False) -> None:
    require(fingerprints, "fingerprints", "at least one fingerprint is required")
    require(len(fingerprints) <= max_items, "fingerprints",
            f"{len(fingerprints)} fingerprints is over the limit of {max_items}")
    seen: dict[str, int] = {}
    for index, fingerprint in enumerate(fingerprints):
        field = f"fingerprints[{index}]"
        require(fingerprint.item_id.strip(), f"{field}.item_id", "required")
        if fingerprint.item_id in seen:
            raise InvalidArgument(f"{field}.item_id",
                                  f"{fingerprint.item_id!r} repeats fingerprints[{seen[fingerprint.item_id]}]")
        seen[fingerprint.item_id] = index
        for name in ("image1_phash", "image2_phash"):
            value = getattr(fingerprint, name)
            if value and not _HEX.fullmatch(value):
                raise InvalidArgument(f"{field}.{name}", f"{value!r} is not 16 lower-case hex digits")
        if bool(fingerprint.image1_phash) != bool(fingerprint.image2_phash):
            raise InvalidArgument(f"{field}.image2_phash" if fingerprint.image1_phash else f"{field}.image1_phash",
                                  "give both image hashes or neither")
        if semantic:
            check_embeddings(fingerprint, field, fingerprints[0])


def check_embeddings(fingerprint: filter_pb2.Fingerprint, field: str, first: filter_pb2.Fingerprint) -> None:
    """With the semantic rule on, every fingerprint carries embeddings of one
    embedder and one dimension (the first fingerprint's)."""
    if not fingerprint.image_embeddings:
        raise InvalidArgument(f"{field}.image_embeddings",
                              "required when min_image_similarity is set (classify with "
                              "options.image_embeddings on a filter with an image embedder)")
    try:
        unpack_pair(fingerprint.image_embeddings)
    except ValueError as exc:
        raise InvalidArgument(f"{field}.image_embeddings", str(exc)) from None
    if fingerprint.image_embedder != first.image_embedder:
        raise InvalidArgument(f"{field}.image_embedder",
                              f"{fingerprint.image_embedder!r} differs from fingerprints[0]'s "
                              f"{first.image_embedder!r}: embeddings of two embedders are not comparable")
    if len(fingerprint.image_embeddings) != len(first.image_embeddings):
        raise InvalidArgument(f"{field}.image_embeddings",
                              f"{len(fingerprint.image_embeddings) // 4} dims, fingerprints[0] has "
                              f"{len(first.image_embeddings) // 4}")


def run_deduplicate(request: filter_pb2.DeduplicateRequest, defaults: Thresholds, max_items: int,
                    should_stop: Callable[[], bool] | None = None) -> filter_pb2.DeduplicateResponse:
    """Raises near_duplicates.Stopped when `should_stop` turns true mid-way."""
    thresholds = thresholds_of(request, defaults)
    check_fingerprints(request.fingerprints, max_items, semantic=bool(thresholds.min_image_similarity))
    index = RunDeduplication(thresholds, should_stop)
    for position, fingerprint in enumerate(request.fingerprints):
        index.add(position, fingerprint.item_id, fingerprint)
    return filter_pb2.DeduplicateResponse(duplicates=index.duplicates())
