"""What a finished run keeps: duplicates out, then the first `target` samples of
each split in seed order, whatever order the samples finished in."""

from __future__ import annotations

import random
from dataclasses import dataclass

from mis.v1 import common_pb2, coordinator_pb2, filter_pb2
from services.coordinator.finish import dedup_request, select_samples


@dataclass
class Done:
    id: str
    seed_id: str
    seed_index: int
    query_index: int
    instruction: common_pb2.NeutralInstruction
    classified: filter_pb2.ClassifyResult


def sample(index: int, split: int) -> Done:
    return Done(f"s{index}", f"seed{index // 2}", index // 2, index % 2,
                common_pb2.NeutralInstruction(instruction=f"instruction {index}"),
                filter_pb2.ClassifyResult(split=split, fingerprint=filter_pb2.Fingerprint(image1_phash="0" * 16)))


def test_duplicates_then_targets_in_seed_order():
    splits = [common_pb2.SPLIT_TRAIN, common_pb2.SPLIT_EASY, common_pb2.SPLIT_HARD] * 4
    done = [sample(i, split) for i, split in enumerate(splits)]
    duplicates = {"s3": {"duplicate_of": "s0", "reason": "image pair"}}
    result = select_samples("r", done, duplicates, coordinator_pb2.SplitTargets(train=2, hard=1), [])
    assert [s["id"] for s in result["samples"] if s["split"] == "train"] == ["s0", "s6"]
    assert [s["id"] for s in result["samples"] if s["split"] == "hard"] == ["s2"]
    assert result["per_split"] == {"train": 2, "easy": 4, "hard": 1}
    assert result["over_target"] == ["s5", "s8", "s9", "s11"]
    assert result["duplicates"] == [{"id": "s3", "duplicate_of": "s0", "reason": "image pair"}]


def test_the_dedup_request_follows_seed_order_and_names_samples():
    done = [sample(i, common_pb2.SPLIT_EASY) for i in range(5)]
    request = dedup_request(done, coordinator_pb2.RunConfig())
    assert [f.item_id for f in request.fingerprints] == [d.id for d in done]
    assert request.fingerprints[2].instruction_text == "instruction 2"
    shuffled = done[:]
    random.Random(3).shuffle(shuffled)
    # The engine sorts by seed order before asking; the request is then the same.
    assert dedup_request(sorted(shuffled, key=lambda d: (d.seed_index, d.query_index)),
                         coordinator_pb2.RunConfig()) == request
    assert (request.max_image_distance, request.min_text_similarity) == (0, 0)


def test_the_runs_dedup_thresholds_reach_the_filter():
    done = [sample(i, common_pb2.SPLIT_EASY) for i in range(2)]
    config = coordinator_pb2.RunConfig(dedup_max_image_distance=3, dedup_min_text_similarity=0.75)
    request = dedup_request(done, config)
    assert (request.max_image_distance, request.min_text_similarity) == (3, 0.75)
