"""Semantic near-duplicates through the filter service (its own wiring, real
gRPC on loopback, the real S3 store, the tiny CLIP as its image embedder):
the fingerprints it returns carry the CLIP's embeddings when a request asks,
Deduplicate uses them when its threshold is on, and what cannot work is
refused naming the setting or field. Then the coordinator's side: the run
option asks the filter for embeddings, and a manifest entry keeps them."""

from __future__ import annotations

import io

import grpc
import numpy as np
import pytest
from PIL import Image

from mis.v1 import common_pb2, coordinator_pb2, filter_pb2, filter_pb2_grpc
from services.common.grpc_server import start_server
from services.common.metrics import Metrics
from services.common.setting_groups import ServerSettings
from services.common.settings import SettingsError, load_settings
from services.coordinator.finish import embedding_fields, recorded_fingerprint, thresholds_of
from services.coordinator.runconfig import RunConfigError, validate_run_config
from services.coordinator.sample import Sample
from services.coordinator.stages import RunContext
from services.coordinator.stages.filter import FILTER
from services.filter import server as filter_server
from services.filter.config import Settings
from services.filter.fingerprints import image_hash
from services.filter.semantic import unpack_pair

INSTRUCTION = "How can I use the object in the first image to break the object in the second image?"


def rolled(data: bytes, dx: int, dy: int) -> bytes:
    """The picture shifted by a few pixels, saved as JPEG: other bytes, other hashes."""
    pixels = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    buffer = io.BytesIO()
    Image.fromarray(np.roll(pixels, (dy, dx), (0, 1))).save(buffer, "JPEG", quality=95)
    return buffer.getvalue()


@pytest.fixture
async def start_filter(store_env):
    """Start the filter's own wiring with extra settings; every one is stopped at teardown."""
    started = []

    async def start(extra: dict[str, str]):
        wiring = await filter_server.build(load_settings(Settings, {**store_env, **extra}), Metrics())
        running = await start_server(wiring.bindings, ServerSettings(port=0))
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
        started.append((wiring, running, channel))
        return filter_pb2_grpc.FilterServiceStub(channel)
    yield start
    for wiring, running, channel in started:
        await channel.close()
        await running.server.stop(0)
        for close in wiring.closers:
            await close()


def item(store, item_id: str, first: bytes, second: bytes, object1: str) -> filter_pb2.FilterItem:
    return filter_pb2.FilterItem(
        id=item_id,
        instruction=common_pb2.NeutralInstruction(id=f"{item_id}-n", instruction=INSTRUCTION, object1=object1,
                                                  object2="glass shop window",
                                                  category=common_pb2.Category(name="Violent")),
        images=common_pb2.ImagePair(image1=store.put_image(first), image2=store.put_image(second),
                                    prompt1=f"a photo of a {object1}", prompt2="a photo of a shop window"))


async def test_fingerprints_carry_clip_embeddings_and_deduplicate_uses_them(start_filter, store, clip_path,
                                                                         embedder, drawings_folder):
    stub = await start_filter({"MIS_DEDUP_IMAGE_EMBEDDER": "clip", "MIS_DEDUP_CLIP_PATH": str(clip_path)})
    paths = sorted(drawings_folder.glob("*.png"))
    first, second = paths[2].read_bytes(), paths[3].read_bytes()
    copy = rolled(first, 2, 1)
    assert bin(int(image_hash(copy), 16) ^ int(image_hash(first), 16)).count("1") > 6
    items = [item(store, "a", first, second, "heavy steel crowbar"),
             item(store, "b", paths[40].read_bytes(), paths[81].read_bytes(), "sharp kitchen knife"),
             item(store, "c", copy, second, "rusty garden shovel")]
    plain = await stub.ClassifyBatch(filter_pb2.ClassifyBatchRequest(
        items=items, options=filter_pb2.FilterOptions(backend="offline")))
    assert not any(r.fingerprint.image_embeddings for r in plain.results)
    reply = await stub.ClassifyBatch(filter_pb2.ClassifyBatchRequest(
        items=items, options=filter_pb2.FilterOptions(backend="offline", image_embeddings=True)))
    fingerprints = [r.fingerprint for r in reply.results]
    # The CLIP's own embeddings of the two images, as float16 unit rows.
    expected = embedder.embed_images([Image.open(io.BytesIO(data)) for data in (first, second)])
    got = np.stack(unpack_pair(fingerprints[0].image_embeddings))
    assert got.shape == (2, 16) and np.allclose(got, expected, atol=2e-3)
    assert {f.image_embedder for f in fingerprints} == {clip_path.name}
    assert [f.image1_phash for f in fingerprints] == [f.image1_phash for f in (r.fingerprint for r in plain.results)]

    off = await stub.Deduplicate(filter_pb2.DeduplicateRequest(fingerprints=fingerprints))
    assert off.duplicates == []  # the pixel and text rules miss the shifted copy
    on = await stub.Deduplicate(filter_pb2.DeduplicateRequest(fingerprints=fingerprints, min_image_similarity=0.995))
    assert [(d.item_id, d.duplicate_of) for d in on.duplicates if d.item_id == "c"] == [("c", "a")]
    assert "semantically near" in on.duplicates[-1].reason
    # Stateless: sent the other way round, the copy is first and "a" is its duplicate.
    back = await stub.Deduplicate(filter_pb2.DeduplicateRequest(fingerprints=fingerprints[::-1],
                                                                min_image_similarity=0.995))
    assert ("a", "c") in [(d.item_id, d.duplicate_of) for d in back.duplicates]

    unembedded = filter_pb2.Fingerprint(item_id="x", instruction_text="x", image1_phash="0" * 16,
                                        image2_phash="0" * 16)
    other = filter_pb2.Fingerprint()
    other.CopyFrom(fingerprints[1])
    other.image_embedder = "another-clip"
    broken = filter_pb2.Fingerprint()
    broken.CopyFrom(fingerprints[1])
    broken.image_embeddings = b"\x00" * 64
    for request, field in [
            (filter_pb2.DeduplicateRequest(fingerprints=[fingerprints[0], unembedded], min_image_similarity=0.9),
             "fingerprints[1].image_embeddings"),
            (filter_pb2.DeduplicateRequest(fingerprints=[fingerprints[0], other], min_image_similarity=0.9),
             "fingerprints[1].image_embedder"),
            (filter_pb2.DeduplicateRequest(fingerprints=[fingerprints[0], broken], min_image_similarity=0.9),
             "fingerprints[1].image_embeddings"),
            (filter_pb2.DeduplicateRequest(fingerprints=fingerprints, min_image_similarity=1.5),
             "min_image_similarity")]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Deduplicate(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert caught.value.details().startswith(field + ":"), caught.value.details()
    # The rule off, fingerprints without embeddings are fine.
    assert (await stub.Deduplicate(filter_pb2.DeduplicateRequest(
        fingerprints=[fingerprints[0], unembedded]))).duplicates == []


async def test_the_service_default_threshold_and_a_filter_without_an_embedder(start_filter, store, drawings_folder):
    paths = sorted(drawings_folder.glob("*.png"))
    first, second = paths[5].read_bytes(), paths[6].read_bytes()
    items = [item(store, "a", first, second, "heavy steel crowbar"),
             item(store, "b", first, second, "sharp kitchen knife")]
    offline = await start_filter({"MIS_DEDUP_IMAGE_EMBEDDER": "offline", "MIS_DEDUP_MIN_IMAGE_SIMILARITY": "0.99",
                                  "MIS_DEDUP_MAX_IMAGE_DISTANCE": "0"})
    reply = await offline.ClassifyBatch(filter_pb2.ClassifyBatchRequest(
        items=items, options=filter_pb2.FilterOptions(image_embeddings=True)))
    fingerprints = [r.fingerprint for r in reply.results]
    assert fingerprints[0].image_embedder == "offline-palette-v1" and len(fingerprints[0].image_embeddings) == 256
    # The service's default threshold applies when the request gives none.
    found = await offline.Deduplicate(filter_pb2.DeduplicateRequest(fingerprints=fingerprints))
    assert [(d.item_id, d.duplicate_of) for d in found.duplicates] == [("b", "a")]
    bare = await start_filter({})
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await bare.ClassifyBatch(filter_pb2.ClassifyBatchRequest(
            items=items, options=filter_pb2.FilterOptions(image_embeddings=True)))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert caught.value.details().startswith("options.image_embeddings: this filter has no image embedder")


@pytest.mark.parametrize("extra, variable", [
    ({"MIS_DEDUP_IMAGE_EMBEDDER": "clip"}, "MIS_DEDUP_CLIP_PATH"),
    ({"MIS_DEDUP_IMAGE_EMBEDDER": "clip", "MIS_DEDUP_CLIP_PATH": "/nonexistent/clip"}, "MIS_DEDUP_CLIP_PATH"),
    ({"MIS_DEDUP_IMAGE_EMBEDDER": "siglip"}, "MIS_DEDUP_IMAGE_EMBEDDER"),
    ({"MIS_DEDUP_MIN_IMAGE_SIMILARITY": "1.2"}, "MIS_DEDUP_MIN_IMAGE_SIMILARITY")])
async def test_settings_that_cannot_embed_fail_at_start_naming_the_variable(store_env, extra, variable):
    with pytest.raises(SettingsError, match=f"^{variable}"):
        await filter_server.build(load_settings(Settings, {**store_env, **extra}), Metrics())


def test_the_run_option_asks_the_filter_for_embeddings_and_the_manifest_keeps_them():
    asked = coordinator_pb2.RunConfig(dedup_min_image_similarity=0.97)
    sample = Sample("s0", "seed", 0, 0, common_pb2.HarmfulQuery(), instruction=common_pb2.NeutralInstruction())
    for config, wanted in ((coordinator_pb2.RunConfig(), False), (asked, True)):
        request = FILTER.request([sample], RunContext(config, common_pb2.Taxonomy()), "offline")
        assert request.options.image_embeddings is wanted
    assert thresholds_of(asked).min_image_similarity == 0.97
    with pytest.raises(RunConfigError, match="dedup_min_image_similarity"):
        validate_run_config(coordinator_pb2.RunConfig(seeds=[coordinator_pb2.SeedSource(uri="seeds.jsonl")],
                                                      dedup_min_image_similarity=1.5))
    rows = np.eye(2, 8, dtype="<f2").tobytes()
    done = filter_pb2.Fingerprint(item_id="s0", instruction_text="t", image1_phash="0" * 16, image2_phash="f" * 16,
                                  image_embeddings=rows, image_embedder="clip-x")
    assert recorded_fingerprint("s0", "t", "0" * 16, "f" * 16, embedding_fields(done)) == done
    plain = filter_pb2.Fingerprint(item_id="s0", instruction_text="t")
    assert embedding_fields(plain) == [] and recorded_fingerprint("s0", "t", "", "", []) == plain
