"""gRPC adapter of the t2i-refiner: validate, delegate to PairRefiner, map errors."""

from __future__ import annotations

from mis.v1 import t2i_refiner_pb2, t2i_refiner_pb2_grpc
from services.common.errors import grpc_errors, require
from services.common.model_stage import single_item
from services.t2i_refiner.refiner import PairRefiner
from services.t2i_refiner.validation import check_instruction


class T2IRefinerServicer(t2i_refiner_pb2_grpc.T2IRefinerServiceServicer):
    def __init__(self, refiner: PairRefiner) -> None:
        self.refiner = refiner

    @grpc_errors
    async def RenderPair(self, request: t2i_refiner_pb2.RenderPairRequest, context
                         ) -> t2i_refiner_pb2.RenderPairResponse:
        # A single malformed instruction fails the call, naming its field.
        require(request.HasField("instruction"), "instruction", "required")
        check_instruction(request.instruction, "instruction")
        result = await single_item(self.refiner.batch, t2i_refiner_pb2.RenderPairBatchRequest(
            instructions=[request.instruction], options=request.options), "instructions",
            "instruction")
        return t2i_refiner_pb2.RenderPairResponse(result=result)

    @grpc_errors
    async def RenderPairBatch(self, request: t2i_refiner_pb2.RenderPairBatchRequest, context
                              ) -> t2i_refiner_pb2.RenderPairBatchResponse:
        return await self.refiner.batch(request)

    @grpc_errors
    async def GetInfo(self, request: t2i_refiner_pb2.T2IRefinerServiceGetInfoRequest, context
                      ) -> t2i_refiner_pb2.T2IRefinerServiceGetInfoResponse:
        return t2i_refiner_pb2.T2IRefinerServiceGetInfoResponse(info=self.refiner.info())
