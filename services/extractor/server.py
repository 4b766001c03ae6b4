"""Wiring of the extractor service: settings in, server out."""

from __future__ import annotations

from mis.v1 import extractor_pb2, extractor_pb2_grpc
from services.common.metrics import Metrics
from services.common.server import binding
from services.common.service import Wiring, main as service_main
from services.extractor.config import Settings
from services.extractor.servicer import ExtractorServicer


async def build(settings: Settings, metrics: Metrics) -> Wiring:
    servicer = ExtractorServicer()
    return Wiring([binding(extractor_pb2, "ExtractorService", extractor_pb2_grpc.add_ExtractorServiceServicer_to_server, servicer)])


def main() -> int:
    return service_main("extractor", Settings, build)
