"""The targeted cases of hostile input against real service processes:
undecodable bodies, authentication before decoding, decompression bombs,
truncated images and text posing as images, and references the services must
not follow. Each answer is INVALID_ARGUMENT (or UNAUTHENTICATED) naming the
field; none is UNKNOWN, INTERNAL or UNAVAILABLE while the store is healthy."""

from __future__ import annotations

import io

import grpc
import pytest

from mis.v1 import (common_pb2, cot_annotator_pb2, cot_annotator_pb2_grpc, extractor_pb2,
                    extractor_pb2_grpc, filter_pb2, filter_pb2_grpc, judge_pb2, judge_pb2_grpc)
from tests.hostile.fuzz import (DEADLINE_SECONDS, bomb_png, call_raw, rpcs_of, serving,
                                small_png, truncated_png)
from tests.hostile.valid import INSTRUCTION
from tests.judge.support import TOKEN_ALICE, write_tokens

HOSTILE_BYTES = {"bomb": bomb_png(), "truncated": truncated_png(), "text": b"aws_secret_access_key = x"}


def hostile_refs(store) -> dict[str, tuple[common_pb2.ImageRef, str]]:
    """Case -> (reference, the part of it the error must name)."""
    good = store.put_image(small_png(11))
    other = "other-" + store.bucket[-12:]
    store.client.make_bucket(other)
    # The other bucket exists and holds the image: refusing it is a decision,
    # not a lookup that happened to fail.
    store.client.put_object(other, good.key, io.BytesIO(small_png(11)), len(small_png(11)))
    refs = {"other bucket": (common_pb2.ImageRef(bucket=other, key=good.key), "bucket"),
            "invalid bucket name": (common_pb2.ImageRef(bucket="No_Such..Bucket", key=good.key), "bucket"),
            "dot-dot key": (common_pb2.ImageRef(key="images/../../etc/passwd"), "key"),
            "control character": (common_pb2.ImageRef(key="images/a\nb.png"), "key"),
            "sha256 mismatch": (common_pb2.ImageRef(key=good.key, sha256="0" * 64), "sha256")}
    for name, data in HOSTILE_BYTES.items():
        key = f"images/sha256/00/{name}.png"
        store.put_bytes(key, data, "image/png")
        refs[name] = (common_pb2.ImageRef(key=key), "")
    return refs


def assert_names(error: common_pb2.ItemError, field: str, part: str, case: str) -> None:
    assert error.code == "INVALID_ARGUMENT", (case, error)
    assert error.field == (f"{field}.{part}" if part else field), (case, error)


async def test_undecodable_bodies_and_authentication_before_decoding(start_service, tmp_path):
    judge = start_service("judge", {"MIS_AUTH_TOKENS_FILE": str(write_tokens(tmp_path / "t.txt"))})
    garbage = b"\x0a\xff\xff\xff\xff\x0f"
    token = (("authorization", f"Bearer {TOKEN_ALICE}"),)
    async with grpc.aio.insecure_channel(judge.address) as channel:
        for rpc in rpcs_of(judge_pb2, "JudgeService"):
            assert await call_raw(channel, rpc, garbage) == grpc.StatusCode.UNAUTHENTICATED, rpc.path
            assert await call_raw(channel, rpc, garbage, token) == grpc.StatusCode.INVALID_ARGUMENT, rpc.path
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await channel.unary_unary("/mis.v1.JudgeService/JudgeBatch")(
                garbage, metadata=token, timeout=DEADLINE_SECONDS)
        assert raised.value.details().startswith("request body: not a valid mis.v1.JudgeBatchRequest")
        assert await serving(channel)
    log = judge.log_text()
    assert '"msg": "undecodable request"' in log and '"level": "ERROR"' not in log
    assert "Traceback" not in log


async def test_extractor_refuses_hostile_images_and_references(start_service, store):
    extractor = start_service("extractor")
    refs = hostile_refs(store)
    seeds = [common_pb2.Seed(id=f"d-{name}", text="what is this?", image=common_pb2.Image(data=data))
             for name, data in HOSTILE_BYTES.items()]
    seeds += [common_pb2.Seed(id=f"r-{i}", text="what is this?", image=common_pb2.Image(ref=ref))
              for i, (ref, _part) in enumerate(refs.values())]
    async with grpc.aio.insecure_channel(extractor.address) as channel:
        reply = await extractor_pb2_grpc.ExtractorServiceStub(channel).ExtractBatch(
            extractor_pb2.ExtractBatchRequest(seeds=seeds), timeout=DEADLINE_SECONDS)
        assert await serving(channel)
    for index, name in enumerate(HOSTILE_BYTES):
        assert_names(reply.results[index].error, f"seeds[{index}].image.data", "", name)
    for offset, (case, (_ref, part)) in enumerate(refs.items()):
        index = len(HOSTILE_BYTES) + offset
        assert_names(reply.results[index].error, f"seeds[{index}].image.ref", part, case)


async def test_judge_refuses_hostile_images_and_references(start_service, store):
    judge = start_service("judge")
    refs = hostile_refs(store)
    images = [common_pb2.Image(data=data) for data in HOSTILE_BYTES.values()]
    images += [common_pb2.Image(ref=ref) for ref, _part in refs.values()]
    items = [judge_pb2.JudgeItem(item_id=f"i{i}", question="q?", response="r", images=[image])
             for i, image in enumerate(images)]
    async with grpc.aio.insecure_channel(judge.address) as channel:
        stub = judge_pb2_grpc.JudgeServiceStub(channel)
        reply = await stub.JudgeBatch(judge_pb2.JudgeBatchRequest(items=items), timeout=DEADLINE_SECONDS)
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.Judge(judge_pb2.JudgeRequest(item=items[0]), timeout=DEADLINE_SECONDS)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert raised.value.details().startswith("item.images[0].data: png image declares more than")
        assert await serving(channel)
    for index, name in enumerate(HOSTILE_BYTES):
        assert_names(reply.results[index].error, f"items[{index}].images[0].data", "", name)
    for offset, (case, (_ref, part)) in enumerate(refs.items()):
        index = len(HOSTILE_BYTES) + offset
        assert_names(reply.results[index].error, f"items[{index}].images[0].ref", part, case)


async def test_filter_and_cot_annotator_refuse_hostile_references(start_service, store):
    refs = hostile_refs(store)
    second = store.put_image(small_png(12))
    filter_service, annotator = start_service("filter"), start_service("cot-annotator")
    pairs = [common_pb2.ImagePair(image1=ref, image2=second, prompt1="a", prompt2="b")
             for ref, _part in refs.values()]
    async with grpc.aio.insecure_channel(filter_service.address) as channel:
        classified = await filter_pb2_grpc.FilterServiceStub(channel).ClassifyBatch(
            filter_pb2.ClassifyBatchRequest(items=[
                filter_pb2.FilterItem(id=f"f{i}", instruction=INSTRUCTION, images=pair)
                for i, pair in enumerate(pairs)]), timeout=DEADLINE_SECONDS)
        assert await serving(channel)
    async with grpc.aio.insecure_channel(annotator.address) as channel:
        annotated = await cot_annotator_pb2_grpc.CotAnnotatorServiceStub(channel).AnnotateBatch(
            cot_annotator_pb2.AnnotateBatchRequest(items=[
                cot_annotator_pb2.AnnotateItem(id=f"a{i}", instruction=INSTRUCTION, images=pair,
                                               harmful_query="How do I hurt people?")
                for i, pair in enumerate(pairs)]), timeout=DEADLINE_SECONDS)
        assert await serving(channel)
    for index, (case, (_ref, part)) in enumerate(refs.items()):
        field = f"items[{index}].images.image1"
        assert_names(classified.results[index].error, field, part, case)
        assert_names(annotated.results[index].error, field, part, case)
    for service in (filter_service, annotator):
        assert '"level": "ERROR"' not in service.log_text()
