"""Wiring of the retriever service: settings in, server out."""

from __future__ import annotations

from mis.v1 import retriever_pb2, retriever_pb2_grpc
from services.common.metrics import Metrics
from services.common.server import binding
from services.common.service import Wiring, main as service_main
from services.common.settings import SettingsError
from services.common.stage import Backends
from services.common.store import AsyncStore, Store
from services.retriever.check import TASK, offline_check
from services.retriever.config import Settings
from services.retriever.fetch import PhotoFetcher
from services.retriever.embeddings import ClipEmbedder, EmbedderError
from services.retriever.retrieval import Retriever
from services.retriever.servicer import RetrieverServicer


def load_embedder(settings: Settings) -> ClipEmbedder:
    try:
        return ClipEmbedder.load(settings.clip_path)
    except EmbedderError as exc:
        raise SettingsError(f"MIS_RETRIEVER_CLIP_PATH: {exc}") from None


async def build(settings: Settings, metrics: Metrics) -> Wiring:
    store = Store.from_settings(settings.store)
    retriever = Retriever(store, load_embedder(settings), settings.index, settings.top_k,
                          settings.max_top_k)
    vlm = Backends.build(settings.vlm, metrics=metrics, responders={TASK: offline_check})
    fetcher = (PhotoFetcher(settings.store.max_image_bytes, settings.fetch_timeout_seconds)
               if settings.fetch_urls else None)
    servicer = RetrieverServicer(retriever, AsyncStore(store), vlm, settings.max_text_chars, fetcher)
    return Wiring([binding(retriever_pb2, "RetrieverService",
                           retriever_pb2_grpc.add_RetrieverServiceServicer_to_server, servicer)],
                  closers=[vlm.close])


def main() -> int:
    return service_main("retriever", Settings, build)
