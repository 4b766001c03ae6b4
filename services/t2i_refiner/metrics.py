"""Prometheus metrics of the t2i-refiner, beside the shared ones."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

from services.common.metrics import Metrics


class RenderMetrics:
    def __init__(self, metrics: Metrics) -> None:
        registry = metrics.registry
        self.items = metrics.items
        self.images = Counter("mis_t2i_images_total", "Images drawn", ["renderer"],
                              registry=registry)
        self.batch_seconds = Histogram(
            "mis_t2i_render_batch_seconds", "Wall time of one batched pipeline call", ["renderer"],
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600), registry=registry)
        self.gpu_seconds = Counter("mis_t2i_gpu_seconds_total", "GPU time spent drawing",
                                   registry=registry)
        self.reviews = Counter("mis_t2i_reviews_total", "Pair reviews by verdict", ["review"],
                               registry=registry)
