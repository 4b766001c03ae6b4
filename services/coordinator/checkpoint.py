"""A run's checkpoint: the manifest folded, so a resume reads one object and
the segments written after it instead of every segment, and loads the
near-duplicate index instead of adding every done sample to it again.

What a checkpoint holds is what restoring its manifest entries would have
rebuilt, and nothing else: the counts those entries make (`count_entry`,
the one place that turns an entry into progress), the seeds whose seed and
every sample have an entry (`covered`, by seed index; a resume skips them
without a single read), the entries of the seeds not covered yet (`open`,
so the resume counts and indexes only what they lack), the done records and
the index over their fingerprints. The per-stage outputs stay the source of
truth: every entry was noted after the outputs it sums up were stored, and
a checkpoint that is missing, unreadable or made with other thresholds
costs time only (the resume lists the run and reads the segments, as
without one).

    runs/<run>/checkpoint.json   {"version", "next_segment", "counts", "covered",
                                  "open", "done", "dedup", "groups", "groups_from"}

`groups` and `groups_from` say which groups of stage outputs (outputs.py) a
resume reads: the groups that hold outputs of seeds not covered, and every
group from `groups_from` on (those being written or not yet written when the
checkpoint was made). A checkpoint without them (made before outputs were
grouped) has every group read.

It is written with a manifest segment, after the restore walk is done (the
walk's own entries are folded by then), every `CHECKPOINT_SECONDS` or
`COST_FACTOR` times as long as the last one took to make, whichever is
longer: the time spent on checkpoints stays a small share however large the
run, and the segments a resume reads after the checkpoint stay a few.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

from services.coordinator import layout
from services.coordinator.finish import DoneRecord
from services.coordinator.manifest import SEED
from services.coordinator.progress import ProgressTracker
from services.coordinator.sample import DONE, REJECTED, SPLIT_NAMES
from services.coordinator.stages import PIPELINE, named
from services.filter.deduplication import RunDeduplication
from services.filter.fingerprints import Thresholds
from services.filter.index_state import deduplication_from_state, deduplication_state

VERSION = 1
CHECKPOINT_SECONDS = 30.0
COST_FACTOR = 20


def count_entry(tracker: ProgressTracker, entry: list) -> None:
    """Count a manifest entry as replaying its outputs would have: a seed's
    first-stage result and the samples it fanned out into; a sample's stages
    (the last one rejected it when it was rejected), its cost, its split, and
    the forks its branch stages took."""
    if entry[0] == SEED:
        counts = tracker.stages[PIPELINE[0].stage]
        if entry[2]:
            counts.done += 1
        else:
            counts.rejected += 1
        tracker.samples_total += entry[2]
        cost = entry[3:6]
    else:
        outcome, passed, split = entry[4], entry[5], entry[6]
        for number, key in enumerate(passed):
            counts = tracker.stages[named(key).stage]  # a former key in a run stored before a rename
            if outcome == REJECTED and number == len(passed) - 1:
                counts.rejected += 1
            else:
                counts.done += 1
        tracker.samples_finished += 1
        tracker.samples_total += len(entry[14])
        if outcome == DONE:
            tracker.per_split[SPLIT_NAMES.get(split, "unknown")] += 1
        cost = entry[10:13]
    tracker.prompt_tokens += int(cost[0])
    tracker.completion_tokens += int(cost[1])
    tracker.gpu_seconds += float(cost[2])


def entry_usable(sample_id: str, recorded: dict[str, list]) -> bool:
    """A sample's entry stands for it when its forks have entries too."""
    entry = recorded.get(sample_id)
    return entry is not None and all(layout.fork_id(sample_id, branch) in recorded for branch in entry[14])


def seed_covered(run_id: str, seed_id: str, seed_entry: list | None, recorded: dict[str, list]) -> bool:
    """Whether a seed and every sample of it (forks included) have entries."""
    return seed_entry is not None and all(
        entry_usable(layout.sample_id(run_id, seed_id, query), recorded) for query in range(seed_entry[2]))


@dataclass
class OpenSeed:
    """The entries noted so far of a seed not covered yet."""

    index: int
    entry: list | None = None
    samples: dict[str, list] = field(default_factory=dict)


@dataclass
class Folded:
    """Every entry noted so far (or restored from the manifest), folded into
    counts and coverage; what a checkpoint saves besides the index."""

    run_id: str
    counts: ProgressTracker = field(default_factory=ProgressTracker)
    covered: set[int] = field(default_factory=set)
    open: dict[str, OpenSeed] = field(default_factory=dict)

    def fold(self, entry: list, seed_index: int) -> None:
        count_entry(self.counts, entry)
        seed_id = entry[1] if entry[0] == SEED else entry[2]
        held = self.open.setdefault(seed_id, OpenSeed(seed_index))
        if entry[0] == SEED:
            held.entry = entry
        else:
            held.samples[entry[1]] = entry
        if seed_covered(self.run_id, seed_id, held.entry, held.samples):
            del self.open[seed_id]
            self.covered.add(held.index)


@dataclass
class Checkpoint:
    """A checkpoint as read back."""

    next_segment: int
    folded: Folded
    done: list[DoneRecord]
    dedup: RunDeduplication
    groups: list[int] = field(default_factory=list)
    groups_from: int = 0

    def open_entries(self) -> list[tuple[int, list]]:
        """(seed index, entry) of every entry of a seed not covered."""
        return [(held.index, entry) for held in self.folded.open.values()
                for entry in ([held.entry] if held.entry else []) + list(held.samples.values())]


def _ranges(indices: set[int]) -> list[list[int]]:
    """Sorted indices as [first, last] runs: seeds finish nearly in order."""
    runs: list[list[int]] = []
    for index in sorted(indices):
        if runs and runs[-1][1] == index - 1:
            runs[-1][1] = index
        else:
            runs.append([index, index])
    return runs


def _counts_json(tracker: ProgressTracker) -> dict:
    return {"stages": {str(stage): [c.done, c.rejected] for stage, c in tracker.stages.items()},
            "per_split": dict(tracker.per_split), "tokens": [tracker.prompt_tokens, tracker.completion_tokens],
            "gpu_seconds": tracker.gpu_seconds,
            "samples": [tracker.samples_total, tracker.samples_finished]}


def _counts_from(data: dict) -> ProgressTracker:
    tracker = ProgressTracker()
    for stage, (done, rejected) in data["stages"].items():
        if int(stage) in tracker.stages:
            tracker.stages[int(stage)].done, tracker.stages[int(stage)].rejected = done, rejected
    tracker.per_split.update(data["per_split"])
    tracker.prompt_tokens, tracker.completion_tokens = data["tokens"]
    tracker.gpu_seconds = data["gpu_seconds"]
    tracker.samples_total, tracker.samples_finished = data["samples"]
    return tracker


def checkpoint_bytes(next_segment: int, folded: Folded, done: list[DoneRecord],
                     dedup: RunDeduplication, groups: list[int] = (), groups_from: int = 0) -> bytes:
    """The checkpoint as it is stored; made at once, so what it holds is one
    moment's (nothing can change while it is made)."""
    return json.dumps({
        "version": VERSION, "next_segment": next_segment, "counts": _counts_json(folded.counts),
        "covered": _ranges(folded.covered),
        "open": [[held.index, held.entry, list(held.samples.values())] for held in folded.open.values()],
        "done": [[r.id, r.seed_id, r.seed_index, r.query_index, r.split, r.origin, r.branch] for r in done],
        "dedup": deduplication_state(dedup), "groups": list(groups), "groups_from": groups_from},
        separators=(",", ":")).encode()


def checkpoint_from(run_id: str, data: Any, thresholds: Thresholds) -> Checkpoint:
    """A stored checkpoint back; ValueError (or KeyError, TypeError) when it is
    not one this version wrote for these thresholds."""
    if not isinstance(data, dict) or data.get("version") != VERSION:
        raise ValueError(f"not a version {VERSION} checkpoint")
    folded = Folded(run_id, _counts_from(data["counts"]),
                    {index for first, last in data["covered"] for index in range(first, last + 1)})
    for index, entry, samples in data["open"]:
        seed_id = entry[1] if entry else samples[0][2]
        folded.open[seed_id] = OpenSeed(index, entry, {sample[1]: sample for sample in samples})
    done = [DoneRecord(*row) for row in data["done"]]
    return Checkpoint(int(data["next_segment"]), folded, done,
                      deduplication_from_state(thresholds, data["dedup"]),
                      [int(group) for group in data.get("groups", [])], int(data.get("groups_from", 0)))


class CheckpointClock:
    """When the next checkpoint is due: `CHECKPOINT_SECONDS` after the last,
    or `COST_FACTOR` times as long as making it took, whichever is later."""

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = CHECKPOINT_SECONDS if seconds is None else seconds
        self.last = time.monotonic()
        self.cost = 0.0
        self.allowed = False  # set once the restore walk is done

    def due(self) -> bool:
        return self.allowed and time.monotonic() - self.last >= max(self.seconds, COST_FACTOR * self.cost)

    def made(self, started: float) -> None:
        self.last = time.monotonic()
        self.cost = self.last - started
