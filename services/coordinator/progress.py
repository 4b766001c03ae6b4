"""Live progress of one run: per-stage counts, samples per split, failures,
tokens and GPU-seconds. Counts are rebuilt from the store when a run resumes,
so they survive a crash; watchers are woken on every change."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import Iterable

from mis.v1 import common_pb2, coordinator_pb2
from services.coordinator.stages import PIPELINE


@dataclass
class StageCounts:
    in_flight: int = 0
    done: int = 0
    rejected: int = 0
    failed: int = 0


@dataclass
class ProgressTracker:
    stages: dict[int, StageCounts] = field(
        default_factory=lambda: {info.stage: StageCounts() for info in PIPELINE})
    per_split: Counter[str] = field(default_factory=Counter)
    failures: dict[str, coordinator_pb2.SampleFailure] = field(default_factory=dict)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    gpu_seconds: float = 0.0
    samples_total: int = 0
    samples_finished: int = 0
    seeds_total: int = 0
    near_duplicates: int = 0
    version: int = 0
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def changed(self) -> None:
        # Wake everyone waiting on the current event; later waiters get a fresh one.
        self.version += 1
        event, self._changed = self._changed, asyncio.Event()
        event.set()

    def next_change(self) -> asyncio.Event:
        """An event set at the next change: take it before reading, wait on it after."""
        return self._changed

    def reset(self) -> None:
        """Zero the counts (a run starting over from the store) but keep the
        watchers: they hold this tracker's events."""
        fresh = ProgressTracker()
        for name in ("stages", "per_split", "failures", "prompt_tokens", "completion_tokens",
                     "gpu_seconds", "samples_total", "samples_finished", "seeds_total",
                     "near_duplicates"):
            setattr(self, name, getattr(fresh, name))
        self.changed()

    def add_cost(self, provenances: Iterable[common_pb2.Provenance]) -> None:
        for item in provenances:
            self.prompt_tokens += item.tokens.prompt_tokens
            self.completion_tokens += item.tokens.completion_tokens
            self.gpu_seconds += item.gpu_seconds

    def record_failure(self, failure: coordinator_pb2.SampleFailure) -> None:
        self.failures[failure.sample_id] = failure
        self.stages[failure.stage].failed += 1
        self.changed()

    def to_proto(self) -> coordinator_pb2.RunProgress:
        return coordinator_pb2.RunProgress(
            stages=[coordinator_pb2.StageProgress(stage=stage, in_flight=c.in_flight, done=c.done,
                                                  rejected=c.rejected, failed=c.failed)
                    for stage, c in self.stages.items()],
            per_split=dict(self.per_split),
            failures=sorted(self.failures.values(), key=lambda f: f.sample_id),
            tokens=common_pb2.TokenUsage(prompt_tokens=self.prompt_tokens,
                                         completion_tokens=self.completion_tokens),
            gpu_seconds=self.gpu_seconds, samples_total=self.samples_total,
            samples_finished=self.samples_finished, seeds_total=self.seeds_total,
            near_duplicates=self.near_duplicates)
