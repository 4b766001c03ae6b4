"""Wiring of the t2i-refiner service: settings in, server out."""

from __future__ import annotations

from mis.v1 import t2i_refiner_pb2, t2i_refiner_pb2_grpc
from services.common.metrics import Metrics
from services.common.server import binding
from services.common.service import Wiring, main as service_main
from services.t2i_refiner.config import Settings
from services.t2i_refiner.servicer import T2IRefinerServicer


async def build(settings: Settings, metrics: Metrics) -> Wiring:
    servicer = T2IRefinerServicer()
    return Wiring([binding(t2i_refiner_pb2, "T2IRefinerService", t2i_refiner_pb2_grpc.add_T2IRefinerServiceServicer_to_server, servicer)])


def main() -> int:
    return service_main("t2i-refiner", Settings, build)
