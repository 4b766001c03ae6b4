"""Wiring of the filter service: settings in, server out. The image embedder
(semantic near-duplicates) is loaded at start, so a bad CLIP folder fails
fast naming its variable."""

from __future__ import annotations

from mis.v1 import filter_pb2, filter_pb2_grpc
from services.common.metrics import Metrics
from services.common.grpc_server import binding
from services.common.settings import SettingsError
from services.common.startup import Wiring, main as service_main
from services.common.store import AsyncStore, Store
from services.common.model_stage import Backends, service_taxonomy
from services.filter.classification import Classification
from services.filter.config import Settings
from services.filter.fingerprints import Thresholds
from services.filter.offline import offline_responders
from services.filter.semantic import ImageEmbedder, load_embedder
from services.filter.servicer import FilterServicer


def image_embedder(settings: Settings) -> ImageEmbedder | None:
    from services.retriever.embeddings import EmbedderError

    if settings.image_embedder == "clip" and settings.clip_path is None:
        raise SettingsError("MIS_DEDUP_CLIP_PATH: required when MIS_DEDUP_IMAGE_EMBEDDER is clip")
    try:
        return load_embedder(settings.image_embedder, settings.clip_path)
    except EmbedderError as exc:
        raise SettingsError(f"MIS_DEDUP_CLIP_PATH: {exc}") from None
    except ImportError as exc:
        raise SettingsError(f"MIS_DEDUP_IMAGE_EMBEDDER: clip needs the retrieval extra ({exc})") from None


def build_classification(settings: Settings, store: AsyncStore, metrics: Metrics | None = None) -> Classification:
    responders = offline_responders()
    return Classification(
        llm=Backends.build(settings.llm, metrics=metrics, responders=responders),
        vlm=Backends.build(settings.vlm, metrics=metrics, responders=responders),
        taxonomy=service_taxonomy(settings.taxonomy_path), store=store,
        max_batch_items=settings.max_batch_items, max_text_chars=settings.max_text_chars,
        send_images=settings.vlm_send_images, metrics=metrics, image_embedder=image_embedder(settings))


async def build(settings: Settings, metrics: Metrics) -> Wiring:
    store = AsyncStore(Store.from_settings(settings.store))
    classification = build_classification(settings, store, metrics)
    servicer = FilterServicer(
        classification, store,
        thresholds=Thresholds(settings.max_image_distance, settings.min_text_similarity,
                              settings.min_image_similarity),
        max_run_items=settings.max_run_items, link_ttl_seconds=settings.review_link_ttl_seconds)
    return Wiring([binding(filter_pb2, "FilterService", filter_pb2_grpc.add_FilterServiceServicer_to_server,
                           servicer)],
                  closers=[classification.llm.close, classification.vlm.close])


def main() -> int:
    return service_main("filter", Settings, build)
