"""The end of a run, as pure functions over its done samples: what each done
sample leaves behind (a `DoneRecord` and a fingerprint for the run's
near-duplicate index, so the sample itself can leave memory), the run's
dedup thresholds, and the selection of what the run keeps (duplicates out,
then the first `target` samples of each split in seed order; see
docs/coordinator.md on determinism).

A fork (the copy a branch stage took of a sample) is not in the index: it
repeats its origin's instruction, so it shares its origin's verdict."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Sequence

from mis.v1 import coordinator_pb2, filter_pb2
from services.coordinator.sample import SPLIT_NAMES, Sample, split_target
from services.coordinator.stages.filter import FILTER
from services.filter.fingerprints import Thresholds

QUERY_BITS = 20  # queries per seed stay far below a million


@dataclass(frozen=True, slots=True)
class DoneRecord:
    """What the end of the run needs of a done sample."""

    id: str
    seed_id: str
    seed_index: int
    query_index: int
    split: int  # common_pb2.Split
    origin: str = ""  # a fork: the sample it was copied from, and its branch stage
    branch: str = ""

    @property
    def order(self) -> tuple[int, int, str]:
        """Seed order; a fork right after the sample it was copied from."""
        return (self.seed_index, self.query_index, self.branch)

    @property
    def index_order(self) -> int:
        """Seed order as one integer, for the near-duplicate index (forks are not in it)."""
        return (self.seed_index << QUERY_BITS) | self.query_index


def done_record(sample: Sample) -> DoneRecord:
    return DoneRecord(sample.id, sample.seed_id, sample.seed_index, sample.query_index,
                      sample.classified.split, sample.origin, sample.branch)


def fingerprint_of(sample: Sample) -> filter_pb2.Fingerprint:
    """The filter's fingerprint of a done sample, named by its id (the
    instruction itself when the filter gave no normalised text)."""
    fingerprint = filter_pb2.Fingerprint()
    fingerprint.CopyFrom(sample.classified.fingerprint)
    fingerprint.item_id = sample.id
    if not fingerprint.instruction_text:
        fingerprint.instruction_text = sample.instruction.instruction
    return fingerprint


def embedding_fields(fingerprint: filter_pb2.Fingerprint) -> list[str]:
    """The manifest entry's trailing fields for a fingerprint with image
    embeddings (embedder, base64 rows), so a resumed run keeps the semantic
    rule for samples it restores from the manifest; none without."""
    if not fingerprint.image_embeddings:
        return []
    return [fingerprint.image_embedder, base64.b64encode(fingerprint.image_embeddings).decode("ascii")]


def recorded_fingerprint(sample_id: str, text: str, phash1: str, phash2: str,
                         embedded: list[str]) -> filter_pb2.Fingerprint:
    """A done sample's fingerprint back from its manifest entry."""
    fingerprint = filter_pb2.Fingerprint(item_id=sample_id, instruction_text=text,
                                         image1_phash=phash1, image2_phash=phash2)
    if embedded:
        fingerprint.image_embedder = embedded[0]
        fingerprint.image_embeddings = base64.b64decode(embedded[1])
    return fingerprint


def thresholds_of(config: coordinator_pb2.RunConfig) -> Thresholds:
    """The run's near-duplicate thresholds: the filter stage's options
    (defaults 6 bits, 0.9; semantic near-duplicates off)."""
    options = FILTER.option_values(config)
    return Thresholds(options["dedup_max_image_distance"], options["dedup_min_text_similarity"],
                      options["dedup_min_image_similarity"])


def split_limits(targets: coordinator_pb2.SplitTargets) -> dict[int, int]:
    """Each split's target (0: none), by split: its own field or its `by_split` entry."""
    return {split: split_target(targets, name) for split, name in SPLIT_NAMES.items()}


def select_samples(run_id: str, done: Sequence[DoneRecord], duplicates: dict[str, dict],
                   targets: coordinator_pb2.SplitTargets, failed: list[str]) -> dict:
    """result.json: the kept samples in seed order (`done` is in seed order),
    counts, and what was left out why. A fork of a near-duplicate goes with it."""
    limits = split_limits(targets)
    duplicates = dict(duplicates)
    kept: list[dict] = []
    over_target: list[str] = []
    per_split: dict[str, int] = {}
    for sample in done:
        if sample.origin and sample.origin in duplicates:
            duplicates[sample.id] = {"duplicate_of": duplicates[sample.origin]["duplicate_of"],
                                     "reason": f"a fork of {sample.origin}, a near-duplicate"}
        if sample.id in duplicates:
            continue
        name = SPLIT_NAMES.get(sample.split, "unknown")
        if limits.get(sample.split) and per_split.get(name, 0) >= limits[sample.split]:
            over_target.append(sample.id)
            continue
        per_split[name] = per_split.get(name, 0) + 1
        kept.append({"id": sample.id, "seed_id": sample.seed_id, "seed_index": sample.seed_index,
                     "query_index": sample.query_index, "split": name})
    return {"run_id": run_id, "samples": kept, "per_split": per_split,
            "duplicates": [{"id": k, **v} for k, v in sorted(duplicates.items())],
            "over_target": over_target, "failed": failed}
