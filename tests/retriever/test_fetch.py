"""Photos fetched by url for a corpus indexed from LAION-layout embeddings,
from a real HTTP server on loopback: bounded, type-checked, then stored and
checked like any other photo."""

from __future__ import annotations

import http.server
import threading

import grpc
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mis.v1 import retriever_pb2, retriever_pb2_grpc
from services.common.setting_groups import ServerSettings
from services.common.metrics import Metrics
from services.common.grpc_server import start_server
from services.common.settings import load_settings
from services.retriever import server as retriever_server
from services.retriever.build import IndexBuilder
from services.retriever.config import Settings
from services.retriever.fetch import PhotoFetcher, PhotoUnavailable
from services.retriever.sources import Source, image_of
from tests.retriever.corpus import drawing

DEADLINE = 30.0


@pytest.fixture
def photo_site(tmp_path):
    """A real HTTP server on loopback serving a folder."""
    (tmp_path / "site").mkdir()
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(tmp_path / "site"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tmp_path / "site", f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_fetcher_refuses_other_schemes_oversized_bodies_and_non_images(photo_site):
    folder, base = photo_site
    (folder / "big.png").write_bytes(drawing("red", "square", 1) + b"\0" * 5000)
    (folder / "page.png").write_bytes(b"<html>not an image</html>")
    fetcher = PhotoFetcher(max_bytes=4000, timeout_seconds=5)
    with pytest.raises(PhotoUnavailable, match="only http and https"):
        fetcher.fetch(f"file://{folder}/big.png")
    with pytest.raises(PhotoUnavailable, match="bytes, over the limit of 4000"):
        fetcher.fetch(f"{base}/big.png")
    with pytest.raises(PhotoUnavailable, match="not an acceptable image"):
        fetcher.fetch(f"{base}/page.png")
    with pytest.raises(PhotoUnavailable, match="HTTP 404"):
        fetcher.fetch(f"{base}/missing.png")


async def test_pair_from_embeddings_only_corpus_fetches_checks_and_stores_the_chosen_photo(
        photo_site, store, store_env, embedder, clip_path, tmp_path):
    folder, base = photo_site
    red, blue = drawing("red", "square", 3), drawing("blue", "circle", 4)
    (folder / "red.png").write_bytes(red)
    (folder / "blue.png").write_bytes(blue)
    (folder / "fake.png").write_bytes(b"not a photo at all")
    corpus = tmp_path / "laion"
    corpus.mkdir()
    rows = embedder.embed_images([image_of(red), image_of(red), image_of(blue)])
    np.save(corpus / "img_emb_0.npy", rows.astype(np.float16))
    pq.write_table(pa.table({"url": [f"{base}/fake.png", f"{base}/red.png", f"{base}/blue.png"],
                             "caption": ["red square", "red square", "blue circle"]}),
                   corpus / "metadata_0.parquet")
    builder = IndexBuilder(store, "urls", Source("laion", corpus), None)
    builder.embed_all()
    builder.assemble()
    settings = load_settings(Settings, {**store_env, "MIS_RETRIEVER_CLIP_PATH": str(clip_path),
                                        "MIS_RETRIEVER_INDEX": "urls",
                                        "MIS_RETRIEVER_FETCH_URLS": "true"})
    wiring = await retriever_server.build(settings, Metrics())
    running = await start_server(wiring.bindings, ServerSettings(port=0))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = retriever_pb2_grpc.RetrieverServiceStub(channel)
            ranked = await stub.Retrieve(retriever_pb2.RetrieveRequest(object_phrase="red square",
                                                                       top_k=3), timeout=DEADLINE)
            reply = await stub.RetrievePair(retriever_pb2.RetrievePairRequest(
                object1="red square", object2="blue circle", top_k=3, backend="offline"),
                timeout=DEADLINE)
    finally:
        await running.server.stop(0)
        for close in wiring.closers:
            await close()
    # The fake photo is skipped whatever its rank; the real red one is taken.
    assert [p.item_id for p in ranked.photos].index("laion-0/1") + 1 == reply.photo1.rank
    assert reply.photo1.photo.url == f"{base}/red.png"
    assert store.get_image(reply.photo1.photo.image) == red
    assert store.get_image(reply.photo2.photo.image) == blue
    assert not ranked.photos[0].HasField("image")  # before a fetch the corpus holds urls only
