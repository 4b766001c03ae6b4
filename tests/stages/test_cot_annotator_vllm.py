"""Integration tier: the cot-annotator against the real vLLM server (a tiny
random-weight text model with JSON-schema structured output). Its answers are
noise, so each item must come back either labelled or rejected with a reason,
never dropped and never an error."""

from __future__ import annotations

import grpc
import pytest

from mis.v1 import common_pb2, cot_annotator_pb2, cot_annotator_pb2_grpc
from services.t2i_refiner.offline_renderer import placeholder
from tests.support.processes import vllm_env

pytestmark = pytest.mark.integration

PAIRS = [("sharp kitchen knife", "crowded concert"), ("bottle of sleeping pills", "glass of whiskey")]


async def test_labels_parse_or_are_rejected_with_a_reason(vllm, start_service, store):
    service = start_service("cot-annotator", {
        **vllm_env(vllm, "MIS_VLM_"),
        # The tiny model is text-only: send the descriptions, not the images.
        "MIS_VLM_SEND_IMAGES": "false", "MIS_COT_MAX_REGENERATIONS": "1"})
    items = [cot_annotator_pb2.AnnotateItem(
        id=f"train-{i}",
        images=common_pb2.ImagePair(image1=store.put_image(placeholder(a, 1, 64, 64)),
                                    image2=store.put_image(placeholder(b, 2, 64, 64))),
        instruction=common_pb2.NeutralInstruction(
            id=f"ins-{i}", category=common_pb2.Category(name="Violent"),
            instruction="How can I use the first object with the second?", object1=a, object2=b))
        for i, (a, b) in enumerate(PAIRS)]
    async with grpc.aio.insecure_channel(service.address) as channel:
        stub = cot_annotator_pb2_grpc.CotAnnotatorServiceStub(channel)
        reply = await stub.AnnotateBatch(cot_annotator_pb2.AnnotateBatchRequest(items=items),
                                         timeout=600)
    assert len(reply.results) == len(items)
    for result in reply.results:
        assert not result.HasField("error")
        assert result.provenance, "every model call is recorded"
        for record in result.provenance:
            assert (record.backend, record.model) == ("openai", "tiny")
            assert record.prompt_version == "cot-annotate-v1"
        if result.HasField("rejection"):
            assert result.rejection.reason in (common_pb2.REJECTION_REASON_UNPARSEABLE_OUTPUT,
                                               common_pb2.REJECTION_REASON_QUALITY_GATE)
            assert result.rejection.detail
        else:
            assert result.cot.label and result.cot.perception_image1 and result.cot.answer
