"""gRPC adapter of the extractor service: map errors, delegate to `Extraction`.

The unary `Extract` is the batch path with one seed; a seed that fails
validation becomes INVALID_ARGUMENT naming the field ("seed.text").
"""

from __future__ import annotations

from mis.v1 import extractor_pb2, extractor_pb2_grpc
from services.common.errors import grpc_errors, require
from services.common.info import stage_info
from services.extractor.extraction import Extraction
from services.common.model_stage import single_item


class ExtractorServicer(extractor_pb2_grpc.ExtractorServiceServicer):
    def __init__(self, extraction: Extraction) -> None:
        self.extraction = extraction

    @grpc_errors
    async def ExtractBatch(self, request, context):
        return await self.extraction.batch(request)

    @grpc_errors
    async def Extract(self, request, context):
        require(request.HasField("seed"), "seed", "required")
        result = await single_item(self.extraction.batch, extractor_pb2.ExtractBatchRequest(
            seeds=[request.seed], options=request.options), "seeds", "seed")
        return extractor_pb2.ExtractResponse(result=result)

    @grpc_errors
    async def GetInfo(self, request, context):
        extraction = self.extraction
        return extractor_pb2.ExtractorServiceGetInfoResponse(info=stage_info(
            "extractor", [extraction.llm.models, extraction.vlm.models], extraction.llm.default,
            max_batch_items=extraction.max_batch_items))
