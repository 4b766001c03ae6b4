"""Labelling and split routing (MIS-facts section 3.4) in plain Python.

For each rendered candidate: fetch both images from the store, fingerprint
them (perceptual hashes, and when the request asks, both images' embeddings
for semantic near-duplicates), ask the LLM whether the instruction text is Safe or Unsafe (and its
sub-category, and whether the pair carries any risk), ask the VLM whether the
images are explicitly harmful, then route: unsafe text -> train; safe text
with explicitly harmful images -> easy; safe text with benign images -> hard.
A pair without any risk is rejected (no risk), as the paper's reviewers did.
"""

from __future__ import annotations

import asyncio
import copy

from mis.v1 import common_pb2, filter_pb2
from services.common.errors import FailedPrecondition, InvalidArgument, require
from services.common.metrics import Metrics
from services.common.models import ChatModel, ChatRequest, image_part, text_part
from services.common.prompts import load_prompt
from services.common.references import fetch_stage_image
from services.common.store import AsyncStore
from services.common.taxonomy import Taxonomy
from services.common.model_stage import (Backends, StageRejected, ask, check_batch, check_text,
                                         item_error, rejection, request_taxonomy)
from services.filter.fingerprints import image_hash_in_thread, instruction_text
from services.filter.semantic import ImageEmbedder, embed_pair

STAGE = common_pb2.STAGE_FILTER


def route(unsafe_text: bool, harmful_images: bool) -> tuple[int, str]:
    """The split and why, per the paper's rule."""
    if unsafe_text:
        return common_pb2.SPLIT_TRAIN, "text is unsafe on its own -> train"
    if harmful_images:
        return common_pb2.SPLIT_EASY, "safe text, explicitly harmful images -> easy"
    return common_pb2.SPLIT_HARD, "safe text, benign images: harm only in the relation -> hard"


class Classification:
    """The filter's labelling logic, shared by the gRPC servicer and in-process callers."""

    def __init__(self, *, llm: Backends, vlm: Backends, taxonomy: Taxonomy, store: AsyncStore,
                 max_batch_items: int = 256, max_text_chars: int = 4000, send_images: bool = True,
                 metrics: Metrics | None = None, image_embedder: ImageEmbedder | None = None) -> None:
        self.llm, self.vlm = llm, vlm
        self.taxonomy = taxonomy
        self.store = store
        self.max_batch_items = max_batch_items
        self.max_text_chars = max_text_chars
        self.send_images = send_images
        self.metrics = metrics
        self.image_embedder = image_embedder
        self.text_prompt = load_prompt("services.filter", "label_text")
        self.image_prompt = load_prompt("services.filter", "judge_images")

    async def batch(self, request: filter_pb2.ClassifyBatchRequest) -> filter_pb2.ClassifyBatchResponse:
        check_batch(len(request.items), self.max_batch_items, "items")
        taxonomy = request_taxonomy(request.options.taxonomy, self.taxonomy)
        llm = self.llm.pick(request.options.backend)
        vlm = self.vlm.pick(request.options.backend)
        embedder = self.embedder_for(request.options)
        results = await asyncio.gather(*(self.one(item, f"items[{index}]", taxonomy, llm, vlm, embedder)
                                         for index, item in enumerate(request.items)))
        return filter_pb2.ClassifyBatchResponse(results=results)

    def embedder_for(self, options: filter_pb2.FilterOptions) -> ImageEmbedder | None:
        """The image embedder when the request asks for embeddings (None when it does not)."""
        if not options.image_embeddings:
            return None
        if self.image_embedder is None:
            raise FailedPrecondition("options.image_embeddings: this filter has no image embedder "
                                     "(set MIS_DEDUP_IMAGE_EMBEDDER to offline or clip)")
        return self.image_embedder

    async def one(self, item: filter_pb2.FilterItem, field: str, taxonomy: Taxonomy,
                  llm: ChatModel, vlm: ChatModel, embedder: ImageEmbedder | None = None
                  ) -> filter_pb2.ClassifyResult:
        result = filter_pb2.ClassifyResult(item_id=item.id)
        try:
            self.check(item, field, taxonomy)
            images = await asyncio.gather(self.image(item.images.image1, f"{field}.images.image1"),
                                          self.image(item.images.image2, f"{field}.images.image2"))
            hashes = [await self.hash(data, f"{field}.images.image{n}") for n, data in enumerate(images, 1)]
        except InvalidArgument as exc:
            result.error.CopyFrom(item_error(exc))
            self.count("invalid")
            return result
        neutral = item.instruction
        result.fingerprint.CopyFrom(filter_pb2.Fingerprint(
            item_id=item.id, image1_phash=hashes[0], image2_phash=hashes[1],
            instruction_text=instruction_text(neutral.instruction, neutral.object1, neutral.object2)))
        if embedder is not None:
            result.fingerprint.image_embeddings = await asyncio.to_thread(embed_pair, embedder, *images)
            result.fingerprint.image_embedder = embedder.name
        answers = await asyncio.gather(self.label_text(item, taxonomy, llm),
                                       self.judge_images(item, images, vlm), return_exceptions=True)
        for answer in answers:
            if isinstance(answer, BaseException) and not isinstance(answer, StageRejected):
                raise answer
            result.provenance.append(answer.provenance if isinstance(answer, StageRejected) else answer[1])
        failed = next((a for a in answers if isinstance(a, StageRejected)), None)
        if failed is not None:
            result.rejection.CopyFrom(failed.rejection)
            self.count("rejected")
            return result
        (label, _), (judgement, _) = answers
        unsafe = label["safety"] == "Unsafe"
        harmful = judgement["image1_explicitly_harmful"] or judgement["image2_explicitly_harmful"]
        result.text_safety = filter_pb2.TEXT_SAFETY_UNSAFE if unsafe else filter_pb2.TEXT_SAFETY_SAFE
        result.category.CopyFrom(common_pb2.Category(name=neutral.category.name,
                                                     sub_category=label["sub_category"]))
        result.images_explicitly_harmful = harmful
        if not label["risky"] and not unsafe and not harmful:
            result.rejection.CopyFrom(rejection(common_pb2.REJECTION_REASON_NO_RISK,
                                                f"no risk in the pair: {label['reason']}"))
            self.count("rejected")
            return result
        split, why = route(unsafe, harmful)
        result.split = split
        result.reason = f"{why} (text: {label['reason']}; images: {judgement['reason']})"
        self.count(common_pb2.Split.Name(split).removeprefix("SPLIT_").lower())
        return result

    def check(self, item: filter_pb2.FilterItem, field: str, taxonomy: Taxonomy) -> None:
        require(item.id.strip(), f"{field}.id", "required, a non-empty string")
        require(item.HasField("instruction"), f"{field}.instruction", "required")
        neutral = item.instruction
        check_text(neutral.instruction, f"{field}.instruction.instruction", self.max_text_chars)
        for name in ("object1", "object2"):
            check_text(getattr(neutral, name), f"{field}.instruction.{name}", 200)
        require(taxonomy.has_category(neutral.category.name), f"{field}.instruction.category.name",
                f"{neutral.category.name!r} is not in taxonomy {taxonomy.version}")
        require(item.HasField("images"), f"{field}.images", "required: the rendered image pair")
        for name in ("image1", "image2"):
            require(getattr(item.images, name).key, f"{field}.images.{name}", "required, an image in the store")
        for name in ("prompt1", "prompt2"):
            if len(getattr(item.images, name)) > self.max_text_chars:
                raise InvalidArgument(f"{field}.images.{name}", f"over the limit of {self.max_text_chars} characters")

    async def image(self, ref: common_pb2.ImageRef, field: str) -> bytes:
        return await fetch_stage_image(self.store, ref, field)

    @staticmethod
    async def hash(data: bytes, field: str) -> str:
        try:
            return await image_hash_in_thread(data)
        except ValueError as exc:
            raise InvalidArgument(field, str(exc)) from None

    async def label_text(self, item: filter_pb2.FilterItem, taxonomy: Taxonomy, model: ChatModel):
        prompt = self.text_prompt
        neutral = item.instruction
        subs = list(taxonomy.categories[neutral.category.name])
        schema = copy.deepcopy(prompt.schema)
        schema["properties"]["sub_category"] = {"type": "string", "enum": subs}
        chat = ChatRequest(
            messages=prompt.messages(prompt.render_user(instruction=neutral.instruction, object1=neutral.object1,
                                                        object2=neutral.object2, sub_categories=", ".join(subs))),
            task="label_text", schema=schema, schema_name="text_label",
            inputs={"instruction": neutral.instruction, "object1": neutral.object1,
                    "object2": neutral.object2, "sub_categories": subs})
        return await ask(model, chat, STAGE, prompt.version, judgement="text_label")

    async def judge_images(self, item: filter_pb2.FilterItem, images: list[bytes], model: ChatModel):
        prompt = self.image_prompt
        neutral, pair = item.instruction, item.images
        text = prompt.render_user(object1=neutral.object1, object2=neutral.object2,
                                  prompt1=pair.prompt1 or "unknown", prompt2=pair.prompt2 or "unknown")
        content = ([text_part(text), image_part(images[0]), image_part(images[1])]
                   if self.send_images else text)
        chat = ChatRequest(messages=prompt.messages(content), task="judge_images", schema=prompt.schema,
                           schema_name="image_judgement",
                           inputs={"object1": neutral.object1, "object2": neutral.object2,
                                   "prompt1": pair.prompt1, "prompt2": pair.prompt2})
        return await ask(model, chat, STAGE, prompt.version, judgement="image_harm",
                         images_sent=self.send_images)

    def count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.items.labels("filter", outcome).inc()
