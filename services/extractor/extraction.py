"""Harmful-element extraction (MIS-facts section 3.1) in plain Python.

`Extraction.batch` takes an `ExtractBatchRequest` and answers every seed in
request order: two or three validated `HarmfulQuery`s, or a rejection with its
reason, or the seed's own `ItemError`. Text seeds go to the LLM, image seeds to
the VLM. Candidates that fail validation are listed in `discarded` with why.
"""

from __future__ import annotations

import asyncio
import copy
import re
from dataclasses import dataclass

from mis.v1 import common_pb2, extractor_pb2
from services.common.errors import InvalidArgument, require
from services.common.images import ImageRejected, inspect_image_in_thread
from services.common.metrics import Metrics
from services.common.models import ChatModel, ChatRequest, image_part, text_part
from services.common.prompts import PromptTemplate, load_prompt
from services.common.references import fetch_stage_image
from services.common.store import AsyncStore
from services.common.taxonomy import Taxonomy
from services.common.model_stage import (Backends, StageRejected, ask, check_batch, check_text,
                                         item_error, rejection, request_taxonomy)

STAGE = common_pb2.STAGE_EXTRACT
DEFAULT_QUERIES = 3
MAX_OBJECT_WORDS = 8


@dataclass(frozen=True)
class SeedInput:
    """A validated seed: its text, its image bytes (if any) and its category hint."""

    seed: common_pb2.Seed
    image: bytes | None
    category_hint: str


def resolve_hint(hint: str, taxonomy: Taxonomy, field: str) -> str:
    """A hint names a category or a sub-category, in any case; return the category."""
    if not hint.strip():
        return ""
    wanted = hint.strip().lower()
    for name, subs in taxonomy.categories.items():
        if name.lower() == wanted or any(s.lower() == wanted for s in subs):
            return name
    raise InvalidArgument(field, f"{hint!r} is not a category or sub-category of taxonomy "
                                 f"{taxonomy.version}")


@dataclass(frozen=True)
class Discard:
    """Why a proposed query is unusable."""

    reason: int  # a RejectionReason
    detail: str


def validate_candidate(candidate: dict, taxonomy: Taxonomy) -> Discard | None:
    """Why a proposed query is unusable, or None when it is fine."""
    if candidate["category"] not in taxonomy.categories:
        return Discard(common_pb2.REJECTION_REASON_UNKNOWN_CATEGORY,
                       f"category {candidate['category']!r} is not in taxonomy {taxonomy.version}")
    objects = [candidate["object1"].strip(), candidate["object2"].strip()]
    for number, phrase in enumerate(objects, 1):
        if len(phrase.split()) > MAX_OBJECT_WORDS:
            return Discard(common_pb2.REJECTION_REASON_OBJECTS_UNUSABLE,
                           f"object{number} {phrase!r} is not a short adjective + noun phrase")
    if objects[0].lower() == objects[1].lower():
        return Discard(common_pb2.REJECTION_REASON_OBJECTS_UNUSABLE,
                       f"object1 and object2 are the same ({objects[0]!r})")
    return None


class Extraction:
    """The extractor's logic, shared by the gRPC servicer and in-process callers."""

    def __init__(self, *, llm: Backends, vlm: Backends, taxonomy: Taxonomy, store: AsyncStore | None,
                 max_batch_items: int = 256, max_text_chars: int = 4000, max_image_bytes: int = 20 << 20,
                 send_images: bool = True, metrics: Metrics | None = None) -> None:
        self.llm, self.vlm = llm, vlm
        self.taxonomy = taxonomy
        self.store = store
        self.max_batch_items = max_batch_items
        self.max_text_chars = max_text_chars
        self.max_image_bytes = max_image_bytes
        self.send_images = send_images
        self.metrics = metrics
        self.prompt: PromptTemplate = load_prompt("services.extractor", "extract")

    async def batch(self, request: extractor_pb2.ExtractBatchRequest) -> extractor_pb2.ExtractBatchResponse:
        check_batch(len(request.seeds), self.max_batch_items, "seeds")
        options = request.options
        count = options.queries_per_seed or DEFAULT_QUERIES
        if count not in (2, 3):
            raise InvalidArgument("options.queries_per_seed", f"must be 2 or 3 (0 for {DEFAULT_QUERIES}), got {count}")
        taxonomy = request_taxonomy(options.taxonomy, self.taxonomy)
        llm = self.llm.pick(options.backend)
        vlm = self.vlm.pick(options.backend)
        results = await asyncio.gather(*(
            self.one(seed, f"seeds[{index}]", taxonomy, count, llm, vlm)
            for index, seed in enumerate(request.seeds)))
        return extractor_pb2.ExtractBatchResponse(results=results)

    async def one(self, seed: common_pb2.Seed, field: str, taxonomy: Taxonomy, count: int,
                  llm: ChatModel, vlm: ChatModel) -> extractor_pb2.ExtractResult:
        result = extractor_pb2.ExtractResult(seed_id=seed.id)
        try:
            checked = await self.validate(seed, field, taxonomy)
        except (InvalidArgument, ImageRejected) as exc:
            error = exc if isinstance(exc, InvalidArgument) else InvalidArgument(f"{field}.image", str(exc))
            result.error.CopyFrom(item_error(error))
            self.count("invalid")
            return result
        model = vlm if checked.image is not None else llm
        chat = self.chat_request(checked, taxonomy, count)
        try:
            answer, record = await ask(model, chat, STAGE, self.prompt.version, queries_per_seed=count)
        except StageRejected as rejected:
            result.rejection.CopyFrom(rejected.rejection)
            result.provenance.CopyFrom(rejected.provenance)
            self.count("rejected")
            return result
        result.provenance.CopyFrom(record)
        discards: list[Discard] = []
        for candidate in answer["queries"][:count]:
            discard = validate_candidate(candidate, taxonomy)
            if discard:
                discards.append(discard)
                result.discarded.append(discard.detail)
                continue
            result.queries.append(common_pb2.HarmfulQuery(
                id=f"{seed.id}-q{len(result.queries) + 1}", seed_id=seed.id,
                category=common_pb2.Category(name=candidate["category"]),
                query=candidate["question"].strip(), object1=candidate["object1"].strip(),
                object2=candidate["object2"].strip()))
        if not result.queries:
            # Unknown category only when that is all that went wrong.
            reasons = {discard.reason for discard in discards}
            reason = (common_pb2.REJECTION_REASON_UNKNOWN_CATEGORY
                      if reasons == {common_pb2.REJECTION_REASON_UNKNOWN_CATEGORY}
                      else common_pb2.REJECTION_REASON_OBJECTS_UNUSABLE)
            result.rejection.CopyFrom(rejection(reason, "no usable query: " + "; ".join(result.discarded)))
            self.count("rejected")
        else:
            self.count("ok")
        return result

    async def validate(self, seed: common_pb2.Seed, field: str, taxonomy: Taxonomy) -> SeedInput:
        require(seed.id.strip(), f"{field}.id", "required, a non-empty string")
        require(re.fullmatch(r"\S{1,200}", seed.id), f"{field}.id",
                "at most 200 characters and no whitespace")
        has_image = seed.HasField("image") and seed.image.WhichOneof("source") is not None
        if not has_image:
            check_text(seed.text, f"{field}.text", self.max_text_chars)
        elif len(seed.text) > self.max_text_chars:
            raise InvalidArgument(f"{field}.text", f"{len(seed.text)} characters is over the limit "
                                                   f"of {self.max_text_chars}")
        hint = resolve_hint(seed.category_hint, taxonomy, f"{field}.category_hint")
        image = await self.image_bytes(seed.image, f"{field}.image") if has_image else None
        return SeedInput(seed, image, hint)

    async def image_bytes(self, image: common_pb2.Image, field: str) -> bytes:
        """The seed's image, checked as a whole image off the event loop; a
        reference only into this service's own bucket."""
        if image.WhichOneof("source") == "data":
            try:
                await inspect_image_in_thread(image.data, self.max_image_bytes)
            except ImageRejected as exc:
                raise InvalidArgument(f"{field}.data", str(exc)) from None
            return image.data
        return await fetch_stage_image(self.store, image.ref, f"{field}.ref")

    def chat_request(self, checked: SeedInput, taxonomy: Taxonomy, count: int) -> ChatRequest:
        seed = checked.seed
        kind = "image with caption" if checked.image is not None else "text"
        hint = f"Category hint: {checked.category_hint}\n" if checked.category_hint else ""
        text = self.prompt.render_user(categories=", ".join(taxonomy.categories), kind=kind,
                                       seed=seed.text.strip() or "(no caption)", hint=hint, count=count)
        content = ([text_part(text), image_part(checked.image)]
                   if checked.image is not None and self.send_images else text)
        schema = self.schema(taxonomy, count)
        return ChatRequest(messages=self.prompt.messages(content), task="extract", schema=schema,
                           schema_name="extraction",
                           inputs={"seed_id": seed.id, "text": seed.text, "count": count,
                                   "category_hint": checked.category_hint,
                                   "categories": list(taxonomy.categories),
                                   "has_image": checked.image is not None})

    def schema(self, taxonomy: Taxonomy, count: int) -> dict:
        """The prompt's schema with this taxonomy's categories as the enum."""
        schema = copy.deepcopy(self.prompt.schema)
        queries = schema["properties"]["queries"]
        queries["maxItems"] = count
        queries["items"]["properties"]["category"] = {"type": "string",
                                                      "enum": list(taxonomy.categories)}
        return schema

    def count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.items.labels("extract", outcome).inc()

