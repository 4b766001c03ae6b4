"""Wiring of the retriever service: settings in, server out.

With MIS_RETRIEVER_CLIP_PATH the phrases are embedded by that CLIP; without
it by the offline palette embedder, whose default index is the bundled
corpus, drawn into the store on first use (a dry run needs no torch and no
FAISS). The pair classification is the filter's, built the way the filter
builds it.
"""

from __future__ import annotations

import functools

from mis.v1 import retriever_pb2, retriever_pb2_grpc
from services.common.metrics import Metrics
from services.common.grpc_server import binding
from services.common.startup import Wiring, main as service_main
from services.common.settings import SettingsError
from services.common.model_stage import Backends, service_taxonomy
from services.common.store import AsyncStore, Store
from services.filter.classification import Classification
from services.filter.offline import offline_responders as filter_responders
from services.retriever.bundled import ensure_bundled_index
from services.retriever.check import TASK, offline_check
from services.retriever.config import Settings
from services.retriever.fetch import PhotoFetcher
from services.retriever.offline import PaletteEmbedder
from services.retriever.pairs import PhotoPicker, RealPairs
from services.retriever.retrieval import BUNDLED_INDEX, Retriever
from services.retriever.servicer import RetrieverServicer


def load_embedder(settings: Settings):
    if settings.clip_path is None:
        return PaletteEmbedder()
    from services.retriever.embeddings import ClipEmbedder, EmbedderError
    try:
        return ClipEmbedder.load(settings.clip_path)
    except EmbedderError as exc:
        raise SettingsError(f"MIS_RETRIEVER_CLIP_PATH: {exc}") from None


def build_retriever(settings: Settings, store: Store) -> Retriever:
    embedder = load_embedder(settings)
    offline = isinstance(embedder, PaletteEmbedder)
    return Retriever(store, embedder, settings.index or (BUNDLED_INDEX if offline else ""),
                     settings.top_k, settings.max_top_k,
                     bundled=functools.partial(ensure_bundled_index, store, embedder) if offline else None,
                     use_gpu=settings.faiss_gpu, lancedb=settings.lancedb)


async def build(settings: Settings, metrics: Metrics) -> Wiring:
    store = Store.from_settings(settings.store)
    responders = {**filter_responders(), TASK: offline_check}
    llm = Backends.build(settings.llm, metrics=metrics, responders=responders)
    vlm = Backends.build(settings.vlm, metrics=metrics, responders=responders)
    async_store = AsyncStore(store)
    fetcher = (PhotoFetcher(settings.store.max_image_bytes, settings.fetch_timeout_seconds)
               if settings.fetch_urls else None)
    picker = PhotoPicker(build_retriever(settings, store), async_store, vlm, settings.max_text_chars, fetcher)
    classification = Classification(llm=llm, vlm=vlm, taxonomy=service_taxonomy(settings.taxonomy_path),
                                    store=async_store, max_batch_items=settings.max_batch_items,
                                    max_text_chars=settings.max_text_chars,
                                    send_images=settings.vlm_send_images, metrics=metrics)
    servicer = RetrieverServicer(picker, RealPairs(picker, classification, settings.max_batch_items))
    return Wiring([binding(retriever_pb2, "RetrieverService",
                           retriever_pb2_grpc.add_RetrieverServiceServicer_to_server, servicer)],
                  closers=[llm.close, vlm.close])


def main() -> int:
    return service_main("retriever", Settings, build)
