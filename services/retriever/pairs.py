"""Choosing photos, and the real pairs the pipeline's retrieve stage asks for.

`PhotoPicker` walks an object phrase's candidates best first and keeps the
first one the VLM check accepts (fetching it by url when the corpus holds
none). `RealPairs` serves RetrieveBatch: for each test sample a checked photo
per object, then the filter's own classification (services/filter,
reused in-process with the same prompts and backends) of the photo pair,
which must still find the harm only in the relation (hard). Knows nothing of
gRPC.
"""

from __future__ import annotations

import asyncio
import dataclasses

from google.protobuf.json_format import MessageToDict

from mis.v1 import common_pb2, filter_pb2, retriever_pb2
from services.common.errors import InvalidArgument, NotFound, require
from services.common.model_stage import Backends, check_batch, check_text, item_error, rejection, request_taxonomy
from services.common.store import AsyncStore
from services.filter.classification import Classification
from services.retriever.check import Check, check_photo, choose
from services.retriever.fetch import PhotoFetcher, PhotoUnavailable
from services.retriever.retrieval import Candidate, LoadedIndex, Retriever

NO_PHOTO = ("no stored photo to check: the corpus was indexed from embeddings alone "
            "and fetching by url is off (MIS_RETRIEVER_FETCH_URLS)")


class NoPhoto(NotFound):
    """No candidate of an object passed the check: the item's rejection in a batch."""


class PhotoPicker:
    def __init__(self, retriever: Retriever, store: AsyncStore, vlm: Backends, max_text_chars: int,
                 fetcher: PhotoFetcher | None = None) -> None:
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
                         top_k: int, instruction_field: str = "instruction") -> tuple[LoadedIndex, list[Candidate]]:
        check_text(phrase, field, self.max_text_chars)
        if len(instruction) > self.max_text_chars:
            raise InvalidArgument(instruction_field, f"{len(instruction)} characters is over the limit "
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

    async def checked(self, index: str, phrase: str, field: str, instruction: str, top_k: int,
                      backend: str, skip_check: bool = False, backend_field: str = "backend",
                      instruction_field: str = "instruction") -> tuple[LoadedIndex, retriever_pb2.CheckedPhoto]:
        loaded, found = await self.candidates(index, phrase, field, instruction, top_k, instruction_field)
        model = None if skip_check else self.vlm.pick(backend, backend_field)
        photographed: dict[str, Candidate] = {}

        async def accept(candidate: Candidate) -> Check | None:
            if model is None:
                return None
            try:
                photographed[candidate.item_id], data = await self.with_photo(candidate)
            except PhotoUnavailable as exc:
                return Check(False, str(exc), common_pb2.Provenance())
            return await check_photo(model, data, candidate, phrase, instruction)

        chosen = await choose(found, accept)
        if chosen is None:
            raise NoPhoto(f"{field}: none of the {len(found)} photos retrieved for {phrase!r} "
                          f"from index {loaded.name!r} passed the photo check")
        rank, candidate, verdict = chosen
        candidate = photographed.get(candidate.item_id, candidate)
        reply = retriever_pb2.CheckedPhoto(photo=self.photo(candidate), rank=rank)
        if verdict is not None:
            reply.check.CopyFrom(retriever_pb2.PhotoCheck(shows_object=verdict.shows_object,
                                                          reason=verdict.reason,
                                                          provenance=verdict.provenance))
        return loaded, reply


class RealPairs:
    def __init__(self, picker: PhotoPicker, classification: Classification, max_batch_items: int) -> None:
        self.picker = picker
        self.classification = classification
        self.max_batch_items = max_batch_items

    async def batch(self, request: retriever_pb2.RetrieveBatchRequest) -> retriever_pb2.RetrieveBatchResponse:
        check_batch(len(request.items), self.max_batch_items, "items")
        options = request.options
        taxonomy = request_taxonomy(options.taxonomy, self.classification.taxonomy)
        llm = self.classification.llm.pick(options.backend, "options.backend")
        vlm = self.classification.vlm.pick(options.backend, "options.backend")
        results = await asyncio.gather(*(self.one(item, f"items[{n}]", options, taxonomy, llm, vlm)
                                         for n, item in enumerate(request.items)))
        return retriever_pb2.RetrieveBatchResponse(results=results)

    async def one(self, item: retriever_pb2.RetrieveItem, field: str, options: retriever_pb2.RetrieveOptions,
                  taxonomy, llm, vlm) -> retriever_pb2.RetrieveResult:
        result = retriever_pb2.RetrieveResult(item_id=item.id)
        try:
            require(item.id.strip(), f"{field}.id", "required, a non-empty string")
            require(item.HasField("instruction"), f"{field}.instruction", "required")
            neutral = item.instruction
            photos = []
            for number in (1, 2):
                loaded, photo = await self.picker.checked(
                    options.index, getattr(neutral, f"object{number}"), f"{field}.instruction.object{number}",
                    neutral.instruction, options.top_k, options.backend, backend_field="options.backend",
                    instruction_field=f"{field}.instruction.instruction")
                photos.append(photo)
                result.provenance.append(photo.check.provenance)
        except InvalidArgument as exc:
            result.error.CopyFrom(item_error(exc))
            return result
        except NoPhoto as exc:
            result.rejection.CopyFrom(rejection(common_pb2.REJECTION_REASON_OBJECTS_UNUSABLE, str(exc)))
            return result
        result.photo1.CopyFrom(photos[0])
        result.photo2.CopyFrom(photos[1])
        result.index, result.corpus = loaded.name, loaded.manifest["corpus"]
        result.pair.CopyFrom(common_pb2.ImagePair(image1=photos[0].photo.image, image2=photos[1].photo.image,
                                                  prompt1=photos[0].photo.caption,
                                                  prompt2=photos[1].photo.caption))
        await self.classify(result, item, field, taxonomy, llm, vlm)
        return result

    async def classify(self, result: retriever_pb2.RetrieveResult, item: retriever_pb2.RetrieveItem,
                       field: str, taxonomy, llm, vlm) -> None:
        """The filter's check of the photo pair: only a hard pair is a real one."""
        classified = await self.classification.one(
            filter_pb2.FilterItem(id=item.id, instruction=item.instruction, images=result.pair),
            field, taxonomy, llm, vlm)
        result.classified.CopyFrom(classified)
        result.provenance.extend(classified.provenance)
        if classified.HasField("error"):
            result.error.CopyFrom(classified.error)
        elif classified.HasField("rejection"):
            result.rejection.CopyFrom(classified.rejection)
        elif classified.split != common_pb2.SPLIT_HARD:
            name = common_pb2.Split.Name(classified.split).removeprefix("SPLIT_").lower()
            result.rejection.CopyFrom(rejection(
                common_pb2.REJECTION_REASON_OBJECTS_UNUSABLE,
                f"the photo pair is {name}, not hard: the harm is no longer only in the relation "
                f"({classified.reason})"))
