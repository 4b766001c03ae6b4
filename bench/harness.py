"""Shared benchmark plumbing: alternate the candidate and its baseline over
several rounds in one process and compare medians, so machine noise hits both
sides alike. Absolute numbers are printed for context only."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Callable


@dataclass
class Comparison:
    name: str
    candidate_rates: list[float]
    baseline_rates: list[float]
    unit: str
    target: float | None = None

    @property
    def ratio(self) -> float:
        return statistics.median(self.candidate_rates) / statistics.median(self.baseline_rates)

    def report(self) -> str:
        line = (f"{self.name}: ratio {self.ratio:.3f} "
                f"(candidate {statistics.median(self.candidate_rates):.1f} {self.unit}, "
                f"baseline {statistics.median(self.baseline_rates):.1f} {self.unit}, "
                f"{len(self.candidate_rates)} rounds)")
        if self.target is not None:
            line += f" target >= {self.target}: {'met' if self.ratio >= self.target else 'NOT met'}"
        return line


def rate(work: Callable[[], int]) -> float:
    """Items per second of one call of `work`, which returns the item count."""
    started = time.perf_counter()
    items = work()
    return items / (time.perf_counter() - started)


def compare(name: str, candidate: Callable[[], int], baseline: Callable[[], int], *,
            rounds: int = 5, unit: str = "items/s", target: float | None = None,
            warmup: bool = True) -> Comparison:
    if warmup:
        candidate()
        baseline()
    result = Comparison(name, [], [], unit, target)
    for index in range(rounds):
        # Alternate which side goes first so drift does not favour one.
        order = [(candidate, result.candidate_rates), (baseline, result.baseline_rates)]
        for work, sink in (order if index % 2 == 0 else order[::-1]):
            sink.append(rate(work))
    return result
