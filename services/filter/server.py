"""Wiring of the filter service: settings in, server out."""

from __future__ import annotations

from mis.v1 import filter_pb2, filter_pb2_grpc
from services.common.metrics import Metrics
from services.common.server import binding
from services.common.service import Wiring, main as service_main
from services.filter.config import Settings
from services.filter.servicer import FilterServicer


async def build(settings: Settings, metrics: Metrics) -> Wiring:
    servicer = FilterServicer()
    return Wiring([binding(filter_pb2, "FilterService", filter_pb2_grpc.add_FilterServiceServicer_to_server, servicer)])


def main() -> int:
    return service_main("filter", Settings, build)
