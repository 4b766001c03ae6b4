"""Wiring of the detoxifier service: settings in, server out."""

from __future__ import annotations

from mis.v1 import detoxifier_pb2, detoxifier_pb2_grpc
from services.common.metrics import Metrics
from services.common.grpc_server import binding
from services.common.startup import Wiring, main as service_main
from services.detoxifier.config import Settings
from services.detoxifier.detoxification import Detoxification
from services.detoxifier.offline import offline_responders
from services.detoxifier.servicer import DetoxifierServicer
from services.common.model_stage import Backends, service_taxonomy


def build_detoxification(settings: Settings, metrics: Metrics | None = None) -> Detoxification:
    return Detoxification(
        llm=Backends.build(settings.llm, metrics=metrics, responders=offline_responders()),
        taxonomy=service_taxonomy(settings.taxonomy_path),
        max_batch_items=settings.max_batch_items, max_text_chars=settings.max_text_chars,
        metrics=metrics)


async def build(settings: Settings, metrics: Metrics) -> Wiring:
    detoxification = build_detoxification(settings, metrics)
    servicer = DetoxifierServicer(detoxification)
    return Wiring([binding(detoxifier_pb2, "DetoxifierService",
                           detoxifier_pb2_grpc.add_DetoxifierServiceServicer_to_server, servicer)],
                  closers=[detoxification.llm.close])


def main() -> int:
    return service_main("detoxifier", Settings, build)
