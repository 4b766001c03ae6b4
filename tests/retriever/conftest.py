"""Fixtures of the retriever tests: one tiny CLIP and one generated corpus per session."""

from __future__ import annotations

import pytest

from tests.retriever.corpus import image_folder
from tests.retriever.tiny_clip import build_tiny_clip

CORPUS_SIZE = 300


@pytest.fixture(scope="session", autouse=True)
def one_faiss_thread():
    """FAISS's OpenMP threads spin while they wait; on a small shared machine
    that made an IVF-PQ build 8x slower than one thread (measured here)."""
    import faiss
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(threads)


@pytest.fixture(scope="session")
def clip_path(tmp_path_factory):
    return build_tiny_clip(tmp_path_factory.mktemp("tiny-clip"))


@pytest.fixture(scope="session")
def embedder(clip_path):
    from services.retriever.embeddings import ClipEmbedder
    return ClipEmbedder.load(clip_path)


@pytest.fixture(scope="session")
def drawings_folder(tmp_path_factory):
    """A few hundred generated drawings: colour, shape and number in each name."""
    return image_folder(tmp_path_factory.mktemp("drawings"), CORPUS_SIZE)


def indexed_drawings(s3_server, embedder, drawings_folder, bucket: str):
    """A store whose bucket holds the drawings indexed as `drawings` (flat, embedded by the tiny CLIP)."""
    from services.common.setting_groups import StoreSettings
    from services.common.store import Store
    from services.retriever.build import IndexBuilder
    from services.retriever.sources import Source

    store = Store.from_settings(StoreSettings(
        endpoint=s3_server.endpoint, access_key=s3_server.access_key,
        secret_key=s3_server.secret_key, bucket=bucket, timeout_seconds=10.0))
    store.ensure_bucket()
    builder = IndexBuilder(store, "drawings", Source("folder", drawings_folder, shard_size=100), embedder)
    builder.embed_all()
    builder.assemble()
    return store
