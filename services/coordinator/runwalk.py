"""Every sample a run made, rebuilt from its stored outputs, with where it
ended: kept samples, but also the ones a stage rejected and the ones dedup
took out, so the export can show them (with their images where they were
drawn) and the card can say what the whole run cost.

The walk applies the same stage declarations the pipeline applied
(stages/), reading each stored output once (from its group, or its own
object in a run stored before outputs were grouped: outputs.StoredOutputs); the cost is summed over those
outputs, so it is the cost of the run, rejected work included, and it adds
up to the run's own progress totals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mis.v1 import common_pb2
from services.common.store import ObjectNotFound, Store
from services.coordinator.outputs import StoredOutputs
from services.coordinator.sample import Sample, Seed
from services.coordinator.stages import BRANCHES, BY_STAGE, PIPELINE, PipelineStage, following


@dataclass
class WalkedSample:
    """One sample as far as it got: the stages it went through, each stage's
    stored result, and the rejection that ended it, if one did."""

    sample: Sample
    passed: list[PipelineStage] = field(default_factory=list)
    results: dict[str, Any] = field(default_factory=dict)
    rejected_at: str = ""                 # stage key
    rejection: common_pb2.Rejection | None = None


@dataclass
class StageCost:
    calls: int = 0
    attempts: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_seconds: float = 0.0
    gpu_seconds: float = 0.0

    def add(self, record: common_pb2.Provenance) -> None:
        self.calls += 1
        self.attempts += record.attempts
        self.prompt_tokens += record.tokens.prompt_tokens
        self.completion_tokens += record.tokens.completion_tokens
        self.latency_seconds += record.latency_seconds
        self.gpu_seconds += record.gpu_seconds

    def to_json(self) -> dict:
        return {"calls": self.calls, "attempts": self.attempts, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "latency_seconds": round(self.latency_seconds, 3), "gpu_seconds": round(self.gpu_seconds, 3)}


@dataclass
class RunWalk:
    samples: dict[str, WalkedSample] = field(default_factory=dict)
    # (stage key, backend, model) -> what its calls cost
    cost: dict[tuple[str, str, str], StageCost] = field(default_factory=dict)

    def charge(self, records: list[common_pb2.Provenance]) -> None:
        for record in records:
            declared = BY_STAGE.get(record.stage)
            stage = declared.key if declared else common_pb2.Stage.Name(record.stage).removeprefix("STAGE_").lower()
            self.cost.setdefault((stage, record.backend, record.model), StageCost()).add(record)

    def cost_section(self) -> dict:
        """The card's cost: per stage and model, per stage, and in all."""
        per_stage: dict[str, StageCost] = {}
        total = StageCost()
        for (stage, _, _), line in self.cost.items():
            for bucket in (per_stage.setdefault(stage, StageCost()), total):
                for name, value in vars(line).items():
                    setattr(bucket, name, getattr(bucket, name) + value)
        order = {stage.key: n for n, stage in enumerate(PIPELINE)}
        return {
            "per_model": [{"stage": stage, "backend": backend, "model": model, **line.to_json()}
                          for (stage, backend, model), line in sorted(
                              self.cost.items(), key=lambda item: (order.get(item[0][0], 99), item[0]))],
            "per_stage": {stage: line.to_json() for stage, line in
                          sorted(per_stage.items(), key=lambda item: order.get(item[0], 99))},
            **total.to_json()}


def _follow(store: StoredOutputs, run_id: str, walked: WalkedSample, stage: PipelineStage | None,
            walk: RunWalk) -> None:
    sample = walked.sample
    while stage is not None:
        try:
            stored = store.get_json(sample.output_key(run_id, stage.stored_as))
        except ObjectNotFound:
            return  # failed or never reached this stage
        result = stage.result_of(stored)
        walk.charge(stage.provenances(result))
        walked.passed.append(stage)
        walked.results[stage.key] = result
        if stage.rejected(result):
            walked.rejected_at, walked.rejection = stage.key, result.rejection
            return
        moved = stage.apply(sample, result, run_id)
        _follow_forks(store, run_id, walked, stage, walk)
        if not moved:
            return
        stage = following(stage, sample)


def _follow_forks(store: StoredOutputs, run_id: str, walked: WalkedSample, stage: PipelineStage,
                  walk: RunWalk) -> None:
    """The forks branches of `stage` took of the sample, known by their stored output."""
    for branch in BRANCHES[stage.key]:
        fork = branch.fork(walked.sample)
        if store.exists(fork.output_key(run_id, branch.stored_as)):
            forked = WalkedSample(fork, list(walked.passed), dict(walked.results))
            walk.samples[fork.id] = forked
            _follow(store, run_id, forked, branch, walk)


def walk_run(store: Store, run_id: str) -> RunWalk:
    """Every sample of every seed the run extracted, in seed order."""
    first = PIPELINE[0]
    walk = RunWalk()
    outputs = StoredOutputs(store, run_id)
    seeds = [(stored["seed_index"], stored["seed_id"], stored)
             for stored in outputs.first_stage_outputs(first.stored_as)]
    for index, seed_id, data in sorted(seeds, key=lambda seed: seed[:2]):
        result = first.result_of(data)
        walk.charge(first.provenances(result))
        if first.rejected(result):
            continue
        for sample in first.apply(Seed(common_pb2.Seed(id=seed_id), index), result, run_id):
            walked = WalkedSample(sample, [first], {first.key: result})
            walk.samples[sample.id] = walked
            _follow(outputs, run_id, walked, following(first), walk)
    return walk
