"""gRPC adapter of the detoxifier service: map errors, delegate to `Detoxification`.

The unary `Detoxify` is the batch path with one query; an invalid query becomes
INVALID_ARGUMENT naming the field ("query.object1").
"""

from __future__ import annotations

from mis.v1 import detoxifier_pb2, detoxifier_pb2_grpc
from services.common.errors import grpc_errors, require
from services.common.info import stage_info
from services.detoxifier.detoxification import Detoxification
from services.common.model_stage import single_item


class DetoxifierServicer(detoxifier_pb2_grpc.DetoxifierServiceServicer):
    def __init__(self, detoxification: Detoxification) -> None:
        self.detoxification = detoxification

    @grpc_errors
    async def DetoxifyBatch(self, request, context):
        return await self.detoxification.batch(request)

    @grpc_errors
    async def Detoxify(self, request, context):
        require(request.HasField("query"), "query", "required")
        result = await single_item(self.detoxification.batch, detoxifier_pb2.DetoxifyBatchRequest(
            queries=[request.query], options=request.options), "queries", "query")
        return detoxifier_pb2.DetoxifyResponse(result=result)

    @grpc_errors
    async def GetInfo(self, request, context):
        detoxification = self.detoxification
        return detoxifier_pb2.DetoxifierServiceGetInfoResponse(info=stage_info(
            "detoxifier", [detoxification.llm.models], detoxification.llm.default,
            max_batch_items=detoxification.max_batch_items))
