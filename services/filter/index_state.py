"""A near-duplicate index as plain JSON values and back, so a resumed run
loads the index its checkpoint saved instead of adding every done sample
again (services/coordinator/checkpoint.py).

The saved state is what the index holds, not how it got there: groups with
their members, lowest member and best (each a [order, id, score]), the
vocabulary in id order, and the text buckets (keyed by stable digests).
Image buckets and the numpy order arrays are rebuilt from the groups, which
costs a pass over them and no MinHash.
"""

from __future__ import annotations

import base64
from typing import Callable

import numpy as np

from services.filter.deduplication import RunDeduplication
from services.filter.fingerprints import Thresholds
from services.filter.near_duplicates import Best, NearDuplicateIndex
from services.filter.semantic import EmbeddedPair

VERSION = 1


def _best(best: Best) -> list:
    return [best.order, best.item_id, best.score]


def index_state(index: NearDuplicateIndex) -> dict:
    """Everything `index` holds, as JSON values."""
    return {"version": VERSION,
            "thresholds": [index.thresholds.max_image_distance, index.thresholds.min_text_similarity],
            "items": index.items, "vocabulary": list(index.vocabulary),
            "text": [[g.tokens, g.members, _best(g.low), _best(g.best)] for g in index.text_groups],
            "images": [[g.hashes, _best(g.low), _best(g.best)] for g in index.image_groups],
            "text_buckets": list(index.text_buckets.items())}


def index_from_state(thresholds: Thresholds, state: dict,
                     should_stop: Callable[[], bool] | None = None) -> NearDuplicateIndex:
    """The index `state` describes. ValueError when it is of another version or
    was made with other thresholds (its answers would not be this run's)."""
    made_with = [thresholds.max_image_distance, thresholds.min_text_similarity]
    if state.get("version") != VERSION or state.get("thresholds") != made_with:
        raise ValueError(f"index state of version {state.get('version')} with thresholds "
                         f"{state.get('thresholds')}, expected version {VERSION} with {made_with}")
    index = NearDuplicateIndex(thresholds, should_stop)
    index.items = state["items"]
    index.vocabulary = {token: number for number, token in enumerate(state["vocabulary"])}
    for tokens, members, low, best in state["text"]:
        number = index._new_text_group(tuple(tokens), [])
        group = index.text_groups[number]
        group.members = [tuple(member) for member in members]
        group.low, group.best = Best(*low), Best(*best)
        index.text_orders.low[number], index.text_orders.best[number] = low[0], best[0]
        index.by_tokens[group.tokens] = number
    for hashes, low, best in state["images"]:
        number = index._new_image_group(tuple(hashes))
        group = index.image_groups[number]
        group.low, group.best = Best(*low), Best(*best)
        index.image_orders.low[number], index.image_orders.best[number] = low[0], best[0]
        index.by_hashes[group.hashes] = number
    index.text_buckets = {key: groups for key, groups in state["text_buckets"]}
    return index


def deduplication_state(dedup: RunDeduplication) -> dict:
    """A run's dedup: the hash index, and the semantic rule's stored pairs
    (that rule only stores until asked; each pair as float16 bytes, base64)."""
    semantic = dedup.semantic
    return {"hashes": index_state(dedup.hashes), "semantic": None if semantic is None else {
        "embedder": semantic.embedder, "skipped": semantic.skipped,
        "pairs": [[pair.order, pair.item_id, base64.b64encode(
            np.stack([pair.image1, pair.image2]).astype("<f2").tobytes()).decode("ascii")]
            for pair in semantic.pairs]}}


def deduplication_from_state(thresholds: Thresholds, state: dict) -> RunDeduplication:
    """The run's dedup `state` describes; ValueError as `index_from_state`,
    or when the semantic rule is on in one and off in the other."""
    dedup = RunDeduplication(thresholds)
    dedup.hashes = index_from_state(thresholds, state["hashes"])
    saved = state.get("semantic")
    if (saved is None) != (dedup.semantic is None):
        raise ValueError("the semantic rule is on in one of the index state and the run, off in the other")
    if saved is not None:
        dedup.semantic.embedder, dedup.semantic.skipped = saved["embedder"], saved["skipped"]
        for order, item_id, packed in saved["pairs"]:
            rows = np.frombuffer(base64.b64decode(packed), dtype="<f2").reshape(2, -1)
            dedup.semantic.pairs.append(EmbeddedPair(order, item_id, rows[0].copy(), rows[1].copy()))
        dedup.orders = {item_id: order for group in dedup.hashes.text_groups
                        for order, item_id, _ in group.members}
    return dedup
