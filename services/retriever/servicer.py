"""gRPC adapter of the retriever: validate, delegate, map to messages.

Searching and embedding are CPU work, so they run in a worker thread and the
event loop keeps serving other calls (pairs.py).
"""

from __future__ import annotations

from mis.v1 import retriever_pb2, retriever_pb2_grpc
from services.common.errors import grpc_errors
from services.common.info import stage_info
from services.retriever.pairs import PhotoPicker, RealPairs


class RetrieverServicer(retriever_pb2_grpc.RetrieverServiceServicer):
    def __init__(self, picker: PhotoPicker, pairs: RealPairs) -> None:
        self.picker = picker
        self.pairs = pairs

    @grpc_errors
    async def Retrieve(self, request, context):
        loaded, found = await self.picker.candidates(request.index, request.object_phrase, "object_phrase",
                                                     request.instruction, request.top_k)
        return retriever_pb2.RetrieveResponse(photos=[self.picker.photo(c) for c in found],
                                              index=loaded.name, corpus=loaded.manifest["corpus"])

    @grpc_errors
    async def RetrievePair(self, request, context):
        replies = []
        for field in ("object1", "object2"):
            loaded, reply = await self.picker.checked(request.index, getattr(request, field), field,
                                                      request.instruction, request.top_k, request.backend,
                                                      request.skip_check)
            replies.append(reply)
        return retriever_pb2.RetrievePairResponse(photo1=replies[0], photo2=replies[1], index=loaded.name,
                                                  corpus=loaded.manifest["corpus"])

    @grpc_errors
    async def RetrieveBatch(self, request, context):
        return await self.pairs.batch(request)

    @grpc_errors
    async def GetInfo(self, request, context):
        # A batch picks the pair classification's LLM and VLM and the photo check's VLM.
        classification = self.pairs.classification
        models = [classification.llm.models, classification.vlm.models, self.picker.vlm.models]
        return retriever_pb2.RetrieverServiceGetInfoResponse(info=stage_info(
            "retriever", models, classification.llm.default, max_batch_items=self.pairs.max_batch_items))
