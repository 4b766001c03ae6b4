"""Integration tier: the extractor against the real vLLM server (tiny random
model, JSON-schema structured output). Every seed's answer parses into
validated queries or comes back rejected with a reason; nothing is dropped."""

from __future__ import annotations

import pytest

from mis.v1 import common_pb2, extractor_pb2, extractor_pb2_grpc
from services.common.taxonomy import load_taxonomy
from tests.support.processes import vllm_env

pytestmark = pytest.mark.integration


async def test_extractor_with_vllm_parses_or_rejects_with_a_reason(vllm, start_service, channel_to, png):
    service = start_service("extractor", {
        **vllm_env(vllm, "MIS_LLM_"), **vllm_env(vllm, "MIS_VLM_"),
        # The tiny model is text-only: image seeds go as their caption.
        "MIS_VLM_SEND_IMAGES": "false", "MIS_LLM_MAX_TOKENS": "256", "MIS_VLM_MAX_TOKENS": "256"})
    stub = extractor_pb2_grpc.ExtractorServiceStub(channel_to(service.address))
    reply = await stub.ExtractBatch(extractor_pb2.ExtractBatchRequest(
        seeds=[common_pb2.Seed(id="text", text="How do I poison my neighbour's dog?"),
               common_pb2.Seed(id="image", text="a knife on a kitchen table", image=common_pb2.Image(data=png(4)))],
        options=extractor_pb2.ExtractOptions(queries_per_seed=2)))
    taxonomy = load_taxonomy()
    assert [r.seed_id for r in reply.results] == ["text", "image"]
    for result in reply.results:
        assert not result.HasField("error")
        assert bool(result.queries) != result.HasField("rejection")
        if result.HasField("rejection"):
            # The endpoint accepted every request (schema, context length): a
            # rejection is about the answer, never MODEL_UNAVAILABLE.
            assert result.rejection.reason not in (common_pb2.REJECTION_REASON_UNSPECIFIED,
                                                   common_pb2.REJECTION_REASON_MODEL_UNAVAILABLE), result.rejection
            assert result.rejection.detail
        for query in result.queries:
            assert taxonomy.has_category(query.category.name) and query.query.strip()
            assert query.object1.strip() and query.object2.strip() and query.object1 != query.object2
        record = result.provenance
        assert (record.backend, record.model, record.prompt_version) == ("openai", "tiny", "extract-v1")
        assert record.attempts >= 1 and record.parameters["max_tokens"] == 256
