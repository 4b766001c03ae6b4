"""Wiring of the coordinator service: settings in, server out."""

from __future__ import annotations

from mis.v1 import coordinator_pb2, coordinator_pb2_grpc
from services.common.metrics import Metrics
from services.common.server import binding
from services.common.service import Wiring, main as service_main
from services.coordinator.config import Settings
from services.coordinator.servicer import CoordinatorServicer


async def build(settings: Settings, metrics: Metrics) -> Wiring:
    servicer = CoordinatorServicer()
    return Wiring([binding(coordinator_pb2, "CoordinatorService", coordinator_pb2_grpc.add_CoordinatorServiceServicer_to_server, servicer)])


def main() -> int:
    return service_main("coordinator", Settings, build)
