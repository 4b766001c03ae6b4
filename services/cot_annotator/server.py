"""Wiring of the cot-annotator service: settings in, server out."""

from __future__ import annotations

from mis.v1 import cot_annotator_pb2, cot_annotator_pb2_grpc
from services.common.metrics import Metrics
from services.common.server import binding
from services.common.service import Wiring, main as service_main
from services.cot_annotator.config import Settings
from services.cot_annotator.servicer import CotAnnotatorServicer


async def build(settings: Settings, metrics: Metrics) -> Wiring:
    servicer = CotAnnotatorServicer()
    return Wiring([binding(cot_annotator_pb2, "CotAnnotatorService", cot_annotator_pb2_grpc.add_CotAnnotatorServiceServicer_to_server, servicer)])


def main() -> int:
    return service_main("cot-annotator", Settings, build)
