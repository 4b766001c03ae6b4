"""What a finished run keeps: duplicates out (a fork with its origin), then
the first `target` samples of each split in seed order, and the thresholds
a run's near-duplicate index uses."""

from __future__ import annotations

from mis.v1 import common_pb2, coordinator_pb2, filter_pb2
from services.coordinator.finish import DoneRecord, fingerprint_of, select_samples, thresholds_of
from services.coordinator.sample import Sample
from services.filter.fingerprints import Thresholds


def record(index: int, split: int) -> DoneRecord:
    return DoneRecord(f"s{index}", f"seed{index // 2}", index // 2, index % 2, split)


def test_duplicates_then_targets_in_seed_order():
    splits = [common_pb2.SPLIT_TRAIN, common_pb2.SPLIT_EASY, common_pb2.SPLIT_HARD] * 4
    done = [record(i, split) for i, split in enumerate(splits)]
    duplicates = {"s3": {"duplicate_of": "s0", "reason": "image pair"}}
    result = select_samples("r", done, duplicates, coordinator_pb2.SplitTargets(train=2, hard=1), [])
    assert [s["id"] for s in result["samples"] if s["split"] == "train"] == ["s0", "s6"]
    assert [s["id"] for s in result["samples"] if s["split"] == "hard"] == ["s2"]
    assert result["per_split"] == {"train": 2, "easy": 4, "hard": 1}
    assert result["over_target"] == ["s5", "s8", "s9", "s11"]
    assert result["duplicates"] == [{"id": "s3", "duplicate_of": "s0", "reason": "image pair"}]


def test_a_fork_goes_with_its_origin_and_real_has_a_target():
    done = [record(0, common_pb2.SPLIT_EASY), record(1, common_pb2.SPLIT_EASY),
            DoneRecord("s1-retrieve", "seed0", 0, 1, common_pb2.SPLIT_REAL, "s1", "retrieve"),
            record(2, common_pb2.SPLIT_EASY),
            DoneRecord("s2-retrieve", "seed1", 1, 0, common_pb2.SPLIT_REAL, "s2", "retrieve"),
            DoneRecord("s3-retrieve", "seed1", 1, 1, common_pb2.SPLIT_REAL, "s3", "retrieve")]
    duplicates = {"s1": {"duplicate_of": "s0", "reason": "instruction"}}
    result = select_samples("r", done, duplicates, coordinator_pb2.SplitTargets(real=1), [])
    assert [s["id"] for s in result["samples"]] == ["s0", "s2", "s2-retrieve"]
    assert result["over_target"] == ["s3-retrieve"]
    assert [(d["id"], d["duplicate_of"]) for d in result["duplicates"]] == [
        ("s1", "s0"), ("s1-retrieve", "s0")]


def test_the_fingerprint_names_the_sample_and_falls_back_to_the_instruction():
    sample = Sample("s7", "seed", 3, 1, common_pb2.HarmfulQuery(),
                    instruction=common_pb2.NeutralInstruction(instruction="instruction 7"),
                    classified=filter_pb2.ClassifyResult(
                        split=common_pb2.SPLIT_EASY, fingerprint=filter_pb2.Fingerprint(image1_phash="0" * 16)))
    fingerprint = fingerprint_of(sample)
    assert (fingerprint.item_id, fingerprint.instruction_text, fingerprint.image1_phash) == (
        "s7", "instruction 7", "0" * 16)
    sample.classified.fingerprint.instruction_text = "normalised text"
    assert fingerprint_of(sample).instruction_text == "normalised text"


def test_the_runs_dedup_thresholds_or_the_defaults():
    assert thresholds_of(coordinator_pb2.RunConfig()) == Thresholds(6, 0.9)
    config = coordinator_pb2.RunConfig(dedup_max_image_distance=3, dedup_min_text_similarity=0.75)
    assert thresholds_of(config) == Thresholds(3, 0.75)
