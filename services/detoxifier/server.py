"""Wiring of the detoxifier service: settings in, server out."""

from __future__ import annotations

from mis.v1 import detoxifier_pb2, detoxifier_pb2_grpc
from services.common.metrics import Metrics
from services.common.server import binding
from services.common.service import Wiring, main as service_main
from services.detoxifier.config import Settings
from services.detoxifier.servicer import DetoxifierServicer


async def build(settings: Settings, metrics: Metrics) -> Wiring:
    servicer = DetoxifierServicer()
    return Wiring([binding(detoxifier_pb2, "DetoxifierService", detoxifier_pb2_grpc.add_DetoxifierServiceServicer_to_server, servicer)])


def main() -> int:
    return service_main("detoxifier", Settings, build)
