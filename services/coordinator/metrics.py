"""Prometheus metrics of the coordinator, beside the shared ones: stage calls
by outcome and latency, items by outcome, and calls per replica (to see the
round robin spread and a dead replica's share move elsewhere)."""

from __future__ import annotations

import functools
from typing import Any

from prometheus_client import Counter, Histogram

from services.common.metrics import Metrics


class Labelled:
    """A labelled metric whose children are looked up once per label values:
    prometheus_client's `labels` checks its arguments and takes a lock on
    every call, and the coordinator counts every item of every stage."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self.labels = functools.lru_cache(maxsize=1024)(metric.labels)


class CoordinatorMetrics:
    def __init__(self, metrics: Metrics | None = None) -> None:
        registry = (metrics or Metrics()).registry
        self.stage_calls = Labelled(Counter("mis_coordinator_stage_calls_total", "Batch calls to a stage",
                                            ["stage", "outcome"], registry=registry))
        self.stage_seconds = Labelled(Histogram(
            "mis_coordinator_stage_call_seconds", "Latency of one batch call to a stage", ["stage"],
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900), registry=registry))
        self.items = Labelled(Counter("mis_coordinator_items_total", "Items by stage and outcome",
                                      ["stage", "outcome"], registry=registry))
        self.replica_calls = Labelled(Counter("mis_coordinator_replica_calls_total",
                                              "Calls sent to each replica", ["stage", "address"],
                                              registry=registry))
