"""gRPC adapter of the retriever: validate, delegate, map to messages.

Searching and embedding are CPU work, so they run in a worker thread and the
event loop keeps serving other calls.
"""

from __future__ import annotations

import asyncio

from mis.v1 import common_pb2, retriever_pb2, retriever_pb2_grpc
from services.common.errors import InvalidArgument, NotFound, grpc_errors
from services.common.stage import Backends, check_text
from services.common.store import AsyncStore
from services.retriever.check import Check, check_photo, choose
from services.retriever.retrieval import Candidate, LoadedIndex, Retriever

NO_PHOTO = "no stored photo to check: the corpus was indexed from embeddings alone"


class RetrieverServicer(retriever_pb2_grpc.RetrieverServiceServicer):
    def __init__(self, retriever: Retriever, store: AsyncStore, vlm: Backends,
                 max_text_chars: int) -> None:
        self.retriever = retriever
        self.store = store
        self.vlm = vlm
        self.max_text_chars = max_text_chars

    def photo(self, candidate: Candidate) -> retriever_pb2.Photo:
        photo = retriever_pb2.Photo(item_id=candidate.item_id, url=candidate.url,
                                    caption=candidate.caption, score=candidate.score)
        if candidate.image:
            photo.image.CopyFrom(common_pb2.ImageRef(bucket=self.store.sync.bucket, **candidate.image))
        return photo

    async def candidates(self, index: str, phrase: str, field: str, instruction: str,
                         top_k: int) -> tuple[LoadedIndex, list[Candidate]]:
        check_text(phrase, field, self.max_text_chars)
        if len(instruction) > self.max_text_chars:
            raise InvalidArgument("instruction", f"{len(instruction)} characters is over the limit "
                                                 f"of {self.max_text_chars}")
        k = self.retriever.top_k(top_k)
        return await asyncio.to_thread(self.retriever.retrieve, index, phrase, k)

    @grpc_errors
    async def Retrieve(self, request, context):
        loaded, found = await self.candidates(request.index, request.object_phrase, "object_phrase",
                                              request.instruction, request.top_k)
        return retriever_pb2.RetrieveResponse(photos=[self.photo(c) for c in found],
                                              index=loaded.name, corpus=loaded.manifest["corpus"])

    async def checked(self, request, field: str, phrase: str) -> retriever_pb2.CheckedPhoto:
        loaded, found = await self.candidates(request.index, phrase, field, request.instruction,
                                              request.top_k)
        model = None if request.skip_check else self.vlm.pick(request.backend, "backend")

        async def accept(candidate: Candidate) -> Check | None:
            if model is None:
                return None
            if not candidate.image:
                return Check(False, NO_PHOTO, common_pb2.Provenance())
            data = await self.store.get_image(common_pb2.ImageRef(**candidate.image))
            return await check_photo(model, data, candidate, phrase, request.instruction)

        chosen = await choose(found, accept)
        if chosen is None:
            raise NotFound(f"{field}: none of the {len(found)} photos retrieved for {phrase!r} "
                           f"from index {loaded.name!r} passed the photo check")
        rank, candidate, verdict = chosen
        reply = retriever_pb2.CheckedPhoto(photo=self.photo(candidate), rank=rank)
        if verdict is not None:
            reply.check.CopyFrom(retriever_pb2.PhotoCheck(shows_object=verdict.shows_object,
                                                          reason=verdict.reason,
                                                          provenance=verdict.provenance))
        return reply

    @grpc_errors
    async def RetrievePair(self, request, context):
        first = await self.checked(request, "object1", request.object1)
        second = await self.checked(request, "object2", request.object2)
        loaded = self.retriever.loaded(request.index)
        return retriever_pb2.RetrievePairResponse(photo1=first, photo2=second, index=loaded.name,
                                                  corpus=loaded.manifest["corpus"])
