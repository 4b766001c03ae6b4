"""The VLM review of a drawn pair: aligned, or not aligned with two refined prompts.

A review that does not parse keeps the pair as drawn (REVIEW_UNPARSEABLE) and
says why; an endpoint that keeps failing is reported to the caller, which
rejects the item. The offline reviewer cannot see: it answers "not aligned"
for about one pair in three, chosen by a hash of the prompts, so dry runs
exercise the redraw path deterministically.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from mis.v1 import common_pb2, t2i_refiner_pb2
from services.common.models import (ChatModel, ChatRequest, ModelError, OutputParseError,
                                    image_part, text_part)
from services.common.models.offline import stable_hash
from services.common.prompts import PromptTemplate
from services.common.provenance import from_completion, provenance

PHOTO_PREFIX = "a photo of"
NOT_ALIGNED_ONE_IN = 3


@dataclass(frozen=True)
class PairUnderReview:
    category: str
    instruction: str
    query: str
    object1: str
    object2: str
    prompt1: str
    prompt2: str
    image1: bytes
    image2: bytes


@dataclass(frozen=True)
class ReviewOutcome:
    review: int
    refined_prompt1: str = ""
    refined_prompt2: str = ""
    provenance: common_pb2.Provenance | None = None
    # Set when the endpoint kept failing: the item cannot be finished.
    unavailable: str = ""


def with_article(phrase: str) -> str:
    lowered = phrase.lower()
    if lowered.startswith(("a ", "an ", "the ")):
        return phrase
    return ("an " if lowered[:1] in "aeiou" else "a ") + phrase


def as_photo_prompt(text: str) -> str:
    """A refined prompt in the form the paper asks for: "a photo of ..."."""
    text = " ".join(text.split())
    if not text or text.lower().startswith(PHOTO_PREFIX):
        return text
    return f"{PHOTO_PREFIX} {with_article(text)}"


def offline_review(request: ChatRequest) -> dict[str, str]:
    """Deterministic verdict from the prompts; refined prompts from the phrases."""
    inputs = request.inputs
    if stable_hash("review", inputs["prompt1"], inputs["prompt2"]) % NOT_ALIGNED_ONE_IN:
        return {"verdict": "aligned", "prompt1": "", "prompt2": ""}
    refine = ("{} {}, clearly recognisable, in sharp focus on a plain background")
    return {"verdict": "not aligned",
            "prompt1": refine.format(PHOTO_PREFIX, with_article(inputs["object1"])),
            "prompt2": refine.format(PHOTO_PREFIX, with_article(inputs["object2"]))}


class PairReviewer:
    def __init__(self, model: ChatModel, prompt: PromptTemplate, *, send_images: bool) -> None:
        self.model = model
        self.prompt = prompt
        self.send_images = send_images

    def request(self, pair: PairUnderReview) -> ChatRequest:
        text = self.prompt.render_user(
            category=pair.category, instruction=pair.instruction,
            query_line=f"Query it came from: {pair.query}\n" if pair.query else "",
            object1=pair.object1, object2=pair.object2, prompt1=pair.prompt1, prompt2=pair.prompt2,
            image_note=("Image 1 and image 2 follow." if self.send_images else
                        "The images are not attached (text-only reviewer): judge from the prompts."))
        content = ([text_part(text), image_part(pair.image1), image_part(pair.image2)]
                   if self.send_images else text)
        return ChatRequest(
            messages=self.prompt.messages(content), task="review", schema=self.prompt.schema,
            schema_name="pair_review",
            inputs={"category": pair.category, "instruction": pair.instruction,
                    "object1": pair.object1, "object2": pair.object2,
                    "prompt1": pair.prompt1, "prompt2": pair.prompt2})

    def failed(self, started: float, attempts: int, error: str) -> common_pb2.Provenance:
        return provenance(common_pb2.STAGE_REFINE, backend=self.model.backend, model=self.model.model,
                          prompt_version=self.prompt.version,
                          parameters={"task": "review", "images_sent": self.send_images,
                                      "error": error[:500]},
                          latency_seconds=time.perf_counter() - started, attempts=attempts)

    async def review(self, pair: PairUnderReview) -> ReviewOutcome:
        started = time.perf_counter()
        try:
            completion = await self.model.complete(self.request(pair))
        except OutputParseError as exc:
            return ReviewOutcome(t2i_refiner_pb2.REVIEW_UNPARSEABLE,
                                 provenance=self.failed(started, exc.attempts, str(exc)))
        except ModelError as exc:
            attempts = getattr(exc, "attempts", 1)
            return ReviewOutcome(t2i_refiner_pb2.REVIEW_UNSPECIFIED,
                                 provenance=self.failed(started, attempts, str(exc)),
                                 unavailable=f"reviewer failed: {exc}")
        record = from_completion(common_pb2.STAGE_REFINE, completion, self.prompt.version,
                                 task="review", images_sent=self.send_images)
        answer = completion.parsed
        if answer["verdict"] == "aligned":
            return ReviewOutcome(t2i_refiner_pb2.REVIEW_ALIGNED, provenance=record)
        refined1, refined2 = as_photo_prompt(answer["prompt1"]), as_photo_prompt(answer["prompt2"])
        if not refined1 or not refined2:
            record.parameters.update({"error": "not aligned without two refined prompts"})
            return ReviewOutcome(t2i_refiner_pb2.REVIEW_UNPARSEABLE, provenance=record)
        return ReviewOutcome(t2i_refiner_pb2.REVIEW_NOT_ALIGNED, refined1, refined2, record)
