"""Integration tier: the t2i-refiner's review against the real vLLM server (a
tiny text-only model with JSON-schema structured output). Whatever the noise,
every pair comes back drawn, with a verdict or REVIEW_UNPARSEABLE, and the
review call is recorded."""

from __future__ import annotations

import grpc
import pytest

from mis.v1 import common_pb2, t2i_refiner_pb2, t2i_refiner_pb2_grpc
from tests.support.processes import vllm_env

pytestmark = pytest.mark.integration


async def test_review_parses_or_keeps_the_pair_as_drawn(vllm, start_service, store):
    service = start_service("t2i-refiner", {
        **vllm_env(vllm, "MIS_VLM_"), "MIS_VLM_SEND_IMAGES": "false",
        "MIS_T2I_WIDTH": "64", "MIS_T2I_HEIGHT": "64"})
    request = t2i_refiner_pb2.RenderPairBatchRequest(instructions=[
        common_pb2.NeutralInstruction(
            id=f"ins-{i}", category=common_pb2.Category(name="Violent"),
            instruction="How can I use the first object with the second?", object1=a, object2=b)
        for i, (a, b) in enumerate([("sharp kitchen knife", "crowded concert"),
                                    ("red fuel canister", "wooden door")])])
    async with grpc.aio.insecure_channel(service.address) as channel:
        stub = t2i_refiner_pb2_grpc.T2IRefinerServiceStub(channel)
        reply = await stub.RenderPairBatch(request, timeout=600)
    for result in reply.results:
        assert not result.HasField("error") and result.rounds
        for rnd in result.rounds:
            assert rnd.review in (t2i_refiner_pb2.REVIEW_ALIGNED, t2i_refiner_pb2.REVIEW_NOT_ALIGNED,
                                  t2i_refiner_pb2.REVIEW_UNPARSEABLE)
            assert rnd.review_provenance.backend == "openai"
            assert rnd.review_provenance.prompt_version == "t2i-review-v1"
            assert store.get_image(rnd.image1)
        if result.rounds[0].review == t2i_refiner_pb2.REVIEW_NOT_ALIGNED:
            assert result.rounds[1].prompt1 == result.rounds[0].refined_prompt1
