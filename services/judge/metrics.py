"""The judge's own Prometheus metrics, in the process's registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from services.common.metrics import Metrics


class JudgeMetrics:
    def __init__(self, metrics: Metrics) -> None:
        r = metrics.registry
        self.verdicts = Counter("mis_judge_verdicts_total", "Verdicts given",
                                ["backend", "response_class", "cached"], registry=r)
        self.item_errors = Counter("mis_judge_item_errors_total", "Items answered with an error",
                                   ["code"], registry=r)
        self.refused = Counter("mis_judge_refused_total", "Calls or items refused by admission",
                               ["reason"], registry=r)
        self.queue = Gauge("mis_judge_queue_items", "Items waiting or in flight", registry=r)
