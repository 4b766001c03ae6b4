"""gRPC adapter of the extractor service: map errors, delegate to `Extraction`.

The unary `Extract` is the batch path with one seed; a seed that fails
validation becomes INVALID_ARGUMENT naming the field ("seed.text").
"""

from __future__ import annotations

from mis.v1 import extractor_pb2, extractor_pb2_grpc
from services.common.errors import InvalidArgument, grpc_errors, require
from services.extractor.extraction import Extraction
from services.common.stage import unary_field


class ExtractorServicer(extractor_pb2_grpc.ExtractorServiceServicer):
    def __init__(self, extraction: Extraction) -> None:
        self.extraction = extraction

    @grpc_errors
    async def ExtractBatch(self, request, context):
        return await self.extraction.batch(request)

    @grpc_errors
    async def Extract(self, request, context):
        require(request.HasField("seed"), "seed", "required")
        reply = await self.extraction.batch(
            extractor_pb2.ExtractBatchRequest(seeds=[request.seed], options=request.options))
        result = reply.results[0]
        if result.HasField("error"):
            raise InvalidArgument(unary_field(result.error.field, "seeds", "seed"), result.error.message)
        return extractor_pb2.ExtractResponse(result=result)
