"""The one shape of a sample, from its extraction to the export: what each
stage has added so far, the provenance of every model call behind it, and
its outcome. The pipeline moves it through the stages; the export rebuilds
it from the stored outputs with the same stage declarations, so a sample in
a running pipeline and a sample being exported cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass, field

from mis.v1 import common_pb2, cot_annotator_pb2, filter_pb2, retriever_pb2
from services.coordinator import layout

SPLIT_NAMES = {common_pb2.SPLIT_TRAIN: "train", common_pb2.SPLIT_EASY: "easy",
               common_pb2.SPLIT_HARD: "hard", common_pb2.SPLIT_REAL: "real"}


def split_target(targets, name: str) -> int:
    """A split's target in a run's `SplitTargets` (0: none): its own field,
    else its `by_split` entry (a split added after the named ones)."""
    if name in targets.DESCRIPTOR.fields_by_name:
        return getattr(targets, name)
    return targets.by_split.get(name, 0)


# Outcomes of a sample; "" while it is still in the pipeline.
DONE, REJECTED, FAILED = "done", "rejected", "failed"


@dataclass
class Seed:
    """A seed before extraction: the first stage's item, which fans out into samples."""

    seed: common_pb2.Seed
    index: int
    outcome: str = ""

    @property
    def id(self) -> str:
        return "seed-" + layout.seed_key(self.seed.id)

    def output_key(self, run_id: str, stage: str) -> str:
        return layout.extract_output(run_id, self.seed.id)

    def output_header(self) -> dict:
        return {"seed_id": self.seed.id, "seed_index": self.index}


@dataclass
class Sample:
    id: str
    seed_id: str
    seed_index: int
    query_index: int
    query: common_pb2.HarmfulQuery
    instruction: common_pb2.NeutralInstruction | None = None
    pair: common_pb2.ImagePair | None = None
    classified: filter_pb2.ClassifyResult | None = None
    cot: cot_annotator_pb2.AnnotateResult | None = None
    # The retrieved photos of a real sample (stages/retrieve.py).
    photos: retriever_pb2.RetrieveResult | None = None
    provenance: list[common_pb2.Provenance] = field(default_factory=list)
    outcome: str = ""
    # A fork (a copy a branch stage took, stages/base.py): the sample it was
    # copied from and the key of that branch stage; empty otherwise.
    origin: str = ""
    branch: str = ""

    @property
    def order(self) -> tuple[int, int, str]:
        """Seed order; a fork right after the sample it was copied from."""
        return (self.seed_index, self.query_index, self.branch)

    @property
    def split(self) -> str:
        return SPLIT_NAMES.get(self.classified.split, "unknown") if self.classified else "unknown"

    def output_key(self, run_id: str, stage: str) -> str:
        return layout.stage_output(run_id, self.id, stage)

    def output_header(self) -> dict:
        return {"sample_id": self.id}
