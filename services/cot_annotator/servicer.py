"""gRPC adapter of the cot-annotator: validate, delegate to CotAnnotator, map errors."""

from __future__ import annotations

from mis.v1 import cot_annotator_pb2, cot_annotator_pb2_grpc
from services.common.errors import InvalidArgument, grpc_errors, require
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
        reply = await self.annotator.batch(cot_annotator_pb2.AnnotateBatchRequest(
            items=[request.item], options=request.options))
        result = reply.results[0]
        if result.HasField("error"):
            # Found only while reading the images (for example a missing key).
            raise InvalidArgument(result.error.field.replace("items[0]", "item", 1),
                                  result.error.message)
        return cot_annotator_pb2.AnnotateResponse(result=result)

    @grpc_errors
    async def AnnotateBatch(self, request: cot_annotator_pb2.AnnotateBatchRequest, context
                            ) -> cot_annotator_pb2.AnnotateBatchResponse:
        return await self.annotator.batch(request)
