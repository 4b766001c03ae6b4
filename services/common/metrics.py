"""Prometheus metrics shared by every service: RPC counts and latencies, model
calls and tokens. A service declares its own extra metrics in its own module.

Metrics live in a registry owned by the process's `Metrics` object rather than
the global default one, so tests can start several servers in one process.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.rpc_total = Counter("mis_rpc_total", "RPCs handled", ["method", "code"], registry=r)
        self.rpc_seconds = Histogram("mis_rpc_seconds", "RPC latency", ["method"],
                                     buckets=_LATENCY_BUCKETS, registry=r)
        self.rpc_in_flight = Gauge("mis_rpc_in_flight", "RPCs being handled", registry=r)
        self.model_calls = Counter("mis_model_calls_total", "Model endpoint calls",
                                   ["endpoint", "outcome"], registry=r)
        self.model_tokens = Counter("mis_model_tokens_total", "Tokens used",
                                    ["endpoint", "kind"], registry=r)
        self.items = Counter("mis_items_total", "Items processed by outcome",
                             ["stage", "outcome"], registry=r)

    def serve(self, port: int, host: str = "0.0.0.0") -> int:
        """Expose /metrics on `port` (0 picks one) and return the bound port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server.server_port
