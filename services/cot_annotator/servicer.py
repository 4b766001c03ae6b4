"""gRPC adapter of the cot-annotator: validate, delegate to CotAnnotator, map errors."""

from __future__ import annotations

from mis.v1 import cot_annotator_pb2, cot_annotator_pb2_grpc
from services.common.errors import grpc_errors, require
from services.common.info import stage_info
from services.common.model_stage import single_item
from services.cot_annotator.annotator import CotAnnotator
from services.cot_annotator.validation import check_item


class CotAnnotatorServicer(cot_annotator_pb2_grpc.CotAnnotatorServiceServicer):
    def __init__(self, annotator: CotAnnotator) -> None:
        self.annotator = annotator

    @grpc_errors
    async def Annotate(self, request: cot_annotator_pb2.AnnotateRequest, context
                       ) -> cot_annotator_pb2.AnnotateResponse:
        # A single malformed item fails the call, naming its field.
        require(request.HasField("item"), "item", "required")
        check_item(request.item, "item")
        # An item error found only while reading the images (a missing key, say).
        result = await single_item(self.annotator.batch, cot_annotator_pb2.AnnotateBatchRequest(
            items=[request.item], options=request.options), "items", "item")
        return cot_annotator_pb2.AnnotateResponse(result=result)

    @grpc_errors
    async def AnnotateBatch(self, request: cot_annotator_pb2.AnnotateBatchRequest, context
                            ) -> cot_annotator_pb2.AnnotateBatchResponse:
        return await self.annotator.batch(request)

    @grpc_errors
    async def GetInfo(self, request: cot_annotator_pb2.CotAnnotatorServiceGetInfoRequest, context
                      ) -> cot_annotator_pb2.CotAnnotatorServiceGetInfoResponse:
        backends = self.annotator.backends
        return cot_annotator_pb2.CotAnnotatorServiceGetInfoResponse(info=stage_info(
            "cot-annotator", [backends.models], backends.default,
            max_batch_items=self.annotator.max_batch_items))
