"""gRPC adapter of the retriever: validate, delegate, map to messages.

Searching and embedding are CPU work, so they run in a worker thread and the
event loop keeps serving other calls.
"""

from __future__ import annotations

import asyncio
import dataclasses

from google.protobuf.json_format import MessageToDict

from mis.v1 import common_pb2, retriever_pb2, retriever_pb2_grpc
from services.common.errors import InvalidArgument, NotFound, grpc_errors
from services.common.stage import Backends, check_text
from services.common.store import AsyncStore
from services.retriever.check import Check, check_photo, choose
from services.retriever.fetch import PhotoFetcher, PhotoUnavailable
from services.retriever.retrieval import Candidate, LoadedIndex, Retriever

NO_PHOTO = ("no stored photo to check: the corpus was indexed from embeddings alone "
            "and fetching by url is off (MIS_RETRIEVER_FETCH_URLS)")


class RetrieverServicer(retriever_pb2_grpc.RetrieverServiceServicer):
    def __init__(self, retriever: Retriever, store: AsyncStore, vlm: Backends,
                 max_text_chars: int, fetcher: PhotoFetcher | None = None) -> None:
        self.retriever = retriever
        self.store = store
        self.vlm = vlm
        self.max_text_chars = max_text_chars
        self.fetcher = fetcher

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

    async def with_photo(self, candidate: Candidate) -> tuple[Candidate, bytes]:
        """The candidate's photo bytes: from the store, else fetched by url and
        stored (the candidate then carries its new reference)."""
        if candidate.image:
            return candidate, await self.store.get_image(common_pb2.ImageRef(**candidate.image))
        if self.fetcher is None or not candidate.url:
            raise PhotoUnavailable(NO_PHOTO)
        data = await asyncio.to_thread(self.fetcher.fetch, candidate.url)
        ref = await self.store.put_image(data)
        fields = MessageToDict(ref, preserving_proto_field_name=True)
        fields.pop("bucket", None)
        return dataclasses.replace(candidate, image=fields), data

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

        photographed: dict[str, Candidate] = {}

        async def accept(candidate: Candidate) -> Check | None:
            if model is None:
                return None
            try:
                photographed[candidate.item_id], data = await self.with_photo(candidate)
            except PhotoUnavailable as exc:
                return Check(False, str(exc), common_pb2.Provenance())
            return await check_photo(model, data, candidate, phrase, request.instruction)

        chosen = await choose(found, accept)
        if chosen is None:
            raise NotFound(f"{field}: none of the {len(found)} photos retrieved for {phrase!r} "
                           f"from index {loaded.name!r} passed the photo check")
        rank, candidate, verdict = chosen
        candidate = photographed.get(candidate.item_id, candidate)
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
