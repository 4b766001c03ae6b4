"""The retriever service over real gRPC on loopback: its own `build` wiring,
the real S3 store, an index of generated drawings, the tiny CLIP, and the
offline VLM backend for the photo check."""

from __future__ import annotations

import grpc
import pytest

from mis.v1 import retriever_pb2, retriever_pb2_grpc
from services.common.setting_groups import ServerSettings
from services.common.metrics import Metrics
from services.common.grpc_server import start_server
from services.common.settings import load_settings
from services.common.store import Store
from tests.retriever.conftest import indexed_drawings
from services.retriever import server as retriever_server
from services.retriever.config import Settings

DEADLINE = 30.0


@pytest.fixture(scope="module")
def indexed_store(s3_server, embedder, drawings_folder) -> Store:
    """One bucket with the drawings indexed, shared by this module's tests (they only read it)."""
    return indexed_drawings(s3_server, embedder, drawings_folder, "t-retriever-service")


@pytest.fixture
def store(indexed_store) -> Store:
    return indexed_store


@pytest.fixture
async def retriever(indexed_store, s3_server, clip_path):
    store_env = {"MIS_S3_ENDPOINT": s3_server.endpoint, "MIS_S3_ACCESS_KEY": s3_server.access_key,
                 "MIS_S3_SECRET_KEY": s3_server.secret_key, "MIS_S3_BUCKET": indexed_store.bucket}
    settings = load_settings(Settings, {**store_env, "MIS_RETRIEVER_CLIP_PATH": str(clip_path),
                                        "MIS_RETRIEVER_INDEX": "drawings", "MIS_RETRIEVER_TOP_K": "6",
                                        "MIS_RETRIEVER_MAX_TOP_K": "20"})
    wiring = await retriever_server.build(settings, Metrics())
    running = await start_server(wiring.bindings, ServerSettings(port=0))
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    yield retriever_pb2_grpc.RetrieverServiceStub(channel)
    await channel.close()
    await running.server.stop(0)
    for close in wiring.closers:
        await close()


async def test_retrieve_returns_top_k_photos_in_the_store_best_first(retriever, store):
    reply = await retriever.Retrieve(retriever_pb2.RetrieveRequest(
        object_phrase="red square", instruction="What could go wrong here?"), timeout=DEADLINE)
    assert len(reply.photos) == 6
    assert (reply.index, reply.corpus.split(":")[0]) == ("drawings", "folder")
    scores = [photo.score for photo in reply.photos]
    assert scores == sorted(scores, reverse=True)
    best = reply.photos[0]
    assert best.image.bucket == store.bucket
    assert store.get_image(best.image)  # the reference resolves and its sha256 matches
    assert best.caption == best.item_id.removesuffix(".png").replace("_", " ")


async def test_pair_takes_for_each_object_the_best_photo_the_check_accepts(retriever):
    ranked = await retriever.Retrieve(retriever_pb2.RetrieveRequest(object_phrase="green triangle",
                                                                    top_k=20), timeout=DEADLINE)
    # The offline check accepts a photo whose caption names a word of the object.
    expected = next(rank for rank, photo in enumerate(ranked.photos, 1)
                    if {"green", "triangle"} & set(photo.caption.split()))
    reply = await retriever.RetrievePair(retriever_pb2.RetrievePairRequest(
        object1="green triangle", object2="blue circle", instruction="How do these combine?",
        top_k=20, backend="offline"), timeout=DEADLINE)
    assert reply.photo1.rank == expected
    assert reply.photo1.photo.item_id == ranked.photos[expected - 1].item_id
    assert reply.photo1.check.shows_object
    assert reply.photo1.check.provenance.backend == "offline"
    assert reply.photo1.check.provenance.prompt_version == "check-photo-v1"
    assert {"blue", "circle"} & set(reply.photo2.photo.caption.split())


async def test_pair_without_check_takes_the_best_scored_photo(retriever):
    ranked = await retriever.Retrieve(retriever_pb2.RetrieveRequest(object_phrase="zebra"), timeout=DEADLINE)
    reply = await retriever.RetrievePair(retriever_pb2.RetrievePairRequest(
        object1="zebra", object2="zebra", skip_check=True), timeout=DEADLINE)
    assert (reply.photo1.rank, reply.photo1.photo.item_id) == (1, ranked.photos[0].item_id)
    assert not reply.photo1.HasField("check")


async def test_pair_whose_object_no_photo_shows_is_not_found_naming_the_object(retriever):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await retriever.RetrievePair(retriever_pb2.RetrievePairRequest(
            object1="green triangle", object2="zebra", top_k=20, backend="offline"), timeout=DEADLINE)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert caught.value.details().startswith("object2: none of the 20 photos retrieved for 'zebra'")


@pytest.mark.parametrize(("request_fields", "field", "reason"), [
    ({"object_phrase": "  "}, "object_phrase", "required"),
    ({"object_phrase": "cup", "top_k": 21}, "top_k", "21 is over the limit of 20"),
    ({"object_phrase": "cup", "top_k": -1}, "top_k", "must not be negative"),
    ({"object_phrase": "cup", "index": "a/b"}, "index", "must not contain '/'"),
])
async def test_bad_retrieve_request_is_invalid_argument_naming_the_field(retriever, request_fields,
                                                                         field, reason):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await retriever.Retrieve(retriever_pb2.RetrieveRequest(**request_fields), timeout=DEADLINE)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith(f"{field}: ")
    assert reason in caught.value.details()


async def test_unknown_backend_and_unbuilt_index_are_refused(retriever):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await retriever.RetrievePair(retriever_pb2.RetrievePairRequest(
            object1="cup", object2="lamp", backend="gpt-9"), timeout=DEADLINE)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details().startswith("backend: backend 'gpt-9' is not configured")
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await retriever.Retrieve(retriever_pb2.RetrieveRequest(object_phrase="cup", index="nowhere"),
                                 timeout=DEADLINE)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "index 'nowhere': not built" in caught.value.details()
