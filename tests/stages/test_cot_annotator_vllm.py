"""Integration tier: the cot-annotator against the real vLLM server with the
tiny random-weight VLM, which is sent both images of each pair in order.
Every answer parses (guided decoding on the bounded schema) and reaches the
quality gate; noise fails the gate, so each item is labelled or rejected by
the gate with its reasons, never as unparseable."""

from __future__ import annotations

import grpc
import pytest

from mis.v1 import common_pb2, cot_annotator_pb2, cot_annotator_pb2_grpc
from services.t2i_refiner.offline_renderer import placeholder
from tests.support.processes import vllm_env

pytestmark = pytest.mark.integration

PAIRS = [("sharp kitchen knife", "crowded concert"), ("sharp kitchen knife", "crowded concert hall")]


async def test_every_label_parses_and_meets_the_gate(vlm, start_service, store):
    service = start_service("cot-annotator", {
        **vllm_env(vlm, "MIS_VLM_"), "MIS_VLM_SEND_IMAGES": "true", "MIS_COT_MAX_REGENERATIONS": "1"})
    items = [cot_annotator_pb2.AnnotateItem(
        id=f"train-{i}",
        images=common_pb2.ImagePair(image1=store.put_image(placeholder(a, 1, 64, 64)),
                                    image2=store.put_image(placeholder(b, 2, 64, 64))),
        instruction=common_pb2.NeutralInstruction(
            id=f"ins-{i}", category=common_pb2.Category(name="Violent"),
            instruction="How can I use the object in the first image at the place in the second image?",
            object1=a, object2=b))
        for i, (a, b) in enumerate(PAIRS)]
    async with grpc.aio.insecure_channel(service.address) as channel:
        stub = cot_annotator_pb2_grpc.CotAnnotatorServiceStub(channel)
        reply = await stub.AnnotateBatch(cot_annotator_pb2.AnnotateBatchRequest(items=items),
                                         timeout=600)
    assert [r.item_id for r in reply.results] == ["train-0", "train-1"]
    for result in reply.results:
        assert not result.HasField("error")
        assert result.HasField("cot") != result.HasField("rejection")
        assert result.rejection.reason in (common_pb2.REJECTION_REASON_UNSPECIFIED,
                                           common_pb2.REJECTION_REASON_QUALITY_GATE), result.rejection
        # Parsed: every call (the first and the regeneration) reached the gate.
        assert len(result.provenance) in (1, 2)
        for record in result.provenance:
            assert (record.backend, record.model, record.prompt_version) == ("openai", "tiny-vlm", "cot-annotate-v2")
            assert record.parameters["images_sent"] is True
            assert record.parameters["gate"] in ("passed", "failed"), record.parameters
