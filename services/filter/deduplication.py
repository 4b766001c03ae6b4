"""The Deduplicate RPC in plain Python: validate a run's fingerprints and the
thresholds (0 means the service default), then find near-duplicates with the
incremental index (near_duplicates.py), stopping when `should_stop` says so."""

from __future__ import annotations

import re
from typing import Callable

from mis.v1 import filter_pb2
from services.common.errors import InvalidArgument, require
from services.filter.fingerprints import Thresholds
from services.filter.near_duplicates import find_duplicates

_HEX = re.compile(r"[0-9a-f]{16}")


def thresholds_of(request: filter_pb2.DeduplicateRequest, defaults: Thresholds) -> Thresholds:
    distance = request.max_image_distance or defaults.max_image_distance
    require(0 <= distance <= 64, "max_image_distance", f"must be between 0 and 64, got {distance}")
    similarity = request.min_text_similarity or defaults.min_text_similarity
    require(0 < similarity <= 1, "min_text_similarity", f"must be above 0 and at most 1, got {similarity}")
    return Thresholds(distance, similarity)


def check_fingerprints(fingerprints, max_items: int) -> None:
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


def run_deduplicate(request: filter_pb2.DeduplicateRequest, defaults: Thresholds, max_items: int,
                    should_stop: Callable[[], bool] | None = None) -> filter_pb2.DeduplicateResponse:
    """Raises near_duplicates.Stopped when `should_stop` turns true mid-way."""
    check_fingerprints(request.fingerprints, max_items)
    thresholds = thresholds_of(request, defaults)
    return filter_pb2.DeduplicateResponse(
        duplicates=find_duplicates(list(request.fingerprints), thresholds, should_stop))
