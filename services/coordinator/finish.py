"""The end of a run, as pure functions over its done samples: the one
Deduplicate request (the whole run, in seed order, so the answer does not
depend on the order samples finished in) and the selection of what the run
keeps (duplicates out, then the first `target` samples of each split in seed
order; see docs/coordinator.md on determinism)."""

from __future__ import annotations

from typing import Protocol, Sequence

from mis.v1 import common_pb2, coordinator_pb2, filter_pb2
from services.coordinator.sample import SPLIT_NAMES


class DoneSample(Protocol):
    id: str
    seed_id: str
    seed_index: int
    query_index: int
    instruction: common_pb2.NeutralInstruction
    classified: filter_pb2.ClassifyResult


def dedup_request(done: Sequence[DoneSample], config: coordinator_pb2.RunConfig
                  ) -> filter_pb2.DeduplicateRequest:
    """Fingerprints of `done` (already in seed order), keyed by sample id, with
    the run's thresholds (0 leaves the filter's defaults)."""
    fingerprints = []
    for sample in done:
        fingerprint = filter_pb2.Fingerprint()
        fingerprint.CopyFrom(sample.classified.fingerprint)
        fingerprint.item_id = sample.id
        if not fingerprint.instruction_text:
            fingerprint.instruction_text = sample.instruction.instruction
        fingerprints.append(fingerprint)
    return filter_pb2.DeduplicateRequest(
        fingerprints=fingerprints, max_image_distance=config.dedup_max_image_distance,
        min_text_similarity=config.dedup_min_text_similarity)


def select_samples(run_id: str, done: Sequence[DoneSample], duplicates: dict[str, dict],
                   targets: coordinator_pb2.SplitTargets, failed: list[str]) -> dict:
    """result.json: the kept samples in seed order, counts, and what was left out why."""
    limits = {common_pb2.SPLIT_TRAIN: targets.train, common_pb2.SPLIT_EASY: targets.easy,
              common_pb2.SPLIT_HARD: targets.hard}
    kept: list[dict] = []
    over_target: list[str] = []
    per_split: dict[str, int] = {}
    for sample in done:
        if sample.id in duplicates:
            continue
        split = sample.classified.split
        name = SPLIT_NAMES.get(split, "unknown")
        if limits.get(split) and per_split.get(name, 0) >= limits[split]:
            over_target.append(sample.id)
            continue
        per_split[name] = per_split.get(name, 0) + 1
        kept.append({"id": sample.id, "seed_id": sample.seed_id, "seed_index": sample.seed_index,
                     "query_index": sample.query_index, "split": name})
    return {"run_id": run_id, "samples": kept, "per_split": per_split,
            "duplicates": [{"id": k, **v} for k, v in sorted(duplicates.items())],
            "over_target": over_target, "failed": failed}
