"""Integration tier: the extractor against the real vLLM servers, text seeds
to the tiny text model and image seeds, with their image, to the tiny VLM.
The weights are random: bounded schemas under guided decoding must still give
a parsed answer for every seed, within the schema's bound."""

from __future__ import annotations

import pytest

from mis.v1 import common_pb2, extractor_pb2, extractor_pb2_grpc
from services.common.models.schema import max_answer_chars
from services.common.prompts import load_prompt
from services.common.taxonomy import load_taxonomy
from services.extractor.extraction import Extraction
from tests.support.processes import vllm_env

pytestmark = pytest.mark.integration


async def test_extractor_with_vllm_parses_every_seed(vllm, vlm, start_service, channel_to, png):
    service = start_service("extractor", {**vllm_env(vllm, "MIS_LLM_"), **vllm_env(vlm, "MIS_VLM_"),
                                          "MIS_VLM_SEND_IMAGES": "true"})
    stub = extractor_pb2_grpc.ExtractorServiceStub(channel_to(service.address))
    reply = await stub.ExtractBatch(extractor_pb2.ExtractBatchRequest(
        seeds=[common_pb2.Seed(id="text", text="How could someone hurt people at a concert?"),
               common_pb2.Seed(id="image", text="a knife on a kitchen table", image=common_pb2.Image(data=png(4)))],
        options=extractor_pb2.ExtractOptions(queries_per_seed=2)), timeout=600)
    taxonomy = load_taxonomy()
    assert [r.seed_id for r in reply.results] == ["text", "image"]
    # Parsed: the answer fit the schema (a later discard, such as two equal
    # objects, is OBJECTS_UNUSABLE, never UNPARSEABLE_OUTPUT).
    parsed = [r for r in reply.results if r.rejection.reason not in (
        common_pb2.REJECTION_REASON_UNPARSEABLE_OUTPUT, common_pb2.REJECTION_REASON_MODEL_UNAVAILABLE)]
    assert len(parsed) == 2, [r.rejection.detail for r in reply.results]
    for result in parsed:
        assert bool(result.queries) != result.HasField("rejection")
        for query in result.queries:
            assert taxonomy.has_category(query.category.name) and query.query.strip()
            assert query.object1.strip() and query.object2.strip() and query.object1 != query.object2
    models = {r.seed_id: r.provenance.model for r in reply.results}
    assert models == {"text": "tiny", "image": "tiny-vlm"}
    schema = Extraction(llm=None, vlm=None, taxonomy=taxonomy, store=None).schema(taxonomy, 2)
    for result in reply.results:
        record = result.provenance
        assert (record.backend, record.prompt_version) == ("openai", load_prompt("services.extractor", "extract").version)
        # A structured call asks for its schema's bound, and the answer stayed within it.
        assert record.parameters["max_tokens"] == max_answer_chars(schema)
        assert 0 < record.tokens.completion_tokens <= record.parameters["max_tokens"]
