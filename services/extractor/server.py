"""Wiring of the extractor service: settings in, server out."""

from __future__ import annotations

from mis.v1 import extractor_pb2, extractor_pb2_grpc
from services.common.metrics import Metrics
from services.common.grpc_server import binding
from services.common.startup import Wiring, main as service_main
from services.common.store import AsyncStore, Store
from services.extractor.config import Settings
from services.extractor.extraction import Extraction
from services.extractor.offline import OfflineExtractor
from services.extractor.servicer import ExtractorServicer
from services.common.model_stage import Backends, service_taxonomy


def build_extraction(settings: Settings, metrics: Metrics | None = None) -> Extraction:
    responders = {"extract": OfflineExtractor()}
    return Extraction(
        llm=Backends.build(settings.llm, metrics=metrics, responders=responders),
        vlm=Backends.build(settings.vlm, metrics=metrics, responders=responders),
        taxonomy=service_taxonomy(settings.taxonomy_path),
        store=AsyncStore(Store.from_settings(settings.store)),
        max_batch_items=settings.max_batch_items, max_text_chars=settings.max_text_chars,
        max_image_bytes=settings.store.max_image_bytes, send_images=settings.vlm_send_images,
        metrics=metrics)


async def build(settings: Settings, metrics: Metrics) -> Wiring:
    extraction = build_extraction(settings, metrics)
    servicer = ExtractorServicer(extraction)
    return Wiring([binding(extractor_pb2, "ExtractorService",
                           extractor_pb2_grpc.add_ExtractorServiceServicer_to_server, servicer)],
                  closers=[extraction.llm.close, extraction.vlm.close])


def main() -> int:
    return service_main("extractor", Settings, build)
