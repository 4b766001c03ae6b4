"""A run's dedup saved mid-way and loaded in a fresh process state gives the
same answer as one index that saw every item: the checkpoint a resumed run
loads instead of adding its done samples again (index_state.py)."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from mis.v1 import filter_pb2
from services.filter.deduplication import RunDeduplication
from services.filter.fingerprints import Thresholds
from services.filter.index_state import deduplication_from_state, deduplication_state
from services.filter.semantic import pack_pair
from tests.stages.test_filter_near_duplicates import a_run, as_tuples


def with_embeddings(run: list[filter_pb2.Fingerprint], rng: random.Random) -> None:
    """Unit embeddings, a few pairs sharing theirs (semantic near-duplicates)."""
    shared = [rng.standard_normal((2, 8)) for _ in range(len(run) // 6 + 1)]
    for fingerprint in run:
        rows = rng.choice(shared) + rng.standard_normal((2, 8)) * 0.01
        fingerprint.image_embedder = "palette"
        fingerprint.image_embeddings = pack_pair(rows / np.linalg.norm(rows, axis=1, keepdims=True))


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("thresholds", [Thresholds(6, 0.9), Thresholds(3, 0.6, 0.98)])
def test_an_index_saved_mid_way_and_loaded_answers_as_one_that_saw_everything(seed, thresholds):
    rng = random.Random(seed)
    run = a_run(rng, 200)
    if thresholds.min_image_similarity:
        with_embeddings(run, np.random.default_rng(seed))
    arrival = list(enumerate(run))
    rng.shuffle(arrival)
    whole = RunDeduplication(thresholds)
    for order, fingerprint in arrival:
        whole.add(order, fingerprint.item_id, fingerprint)
    cut = len(arrival) // 2
    first = RunDeduplication(thresholds)
    for order, fingerprint in arrival[:cut]:
        first.add(order, fingerprint.item_id, fingerprint)
    # Through JSON text, as a checkpoint is stored; nothing of `first` is shared.
    loaded = deduplication_from_state(thresholds, json.loads(json.dumps(deduplication_state(first))))
    assert len(loaded) == cut
    for order, fingerprint in arrival[cut:]:
        loaded.add(order, fingerprint.item_id, fingerprint)
    expected = as_tuples(whole.duplicates())
    assert expected and as_tuples(loaded.duplicates()) == expected


def test_a_state_made_with_other_thresholds_is_refused():
    index = RunDeduplication(Thresholds(6, 0.9))
    for order, fingerprint in enumerate(a_run(random.Random(1), 20)):
        index.add(order, fingerprint.item_id, fingerprint)
    state = json.loads(json.dumps(deduplication_state(index)))
    with pytest.raises(ValueError, match="thresholds"):
        deduplication_from_state(Thresholds(4, 0.9), state)
    with pytest.raises(ValueError, match="semantic rule"):
        deduplication_from_state(Thresholds(6, 0.9, 0.95), state)
