"""Safety chain-of-thought labels for train samples (MIS-facts section 3.5), as plain Python.

For each item the VLM, told the query is harmful, sees both images and writes
what each shows, why their combination is risky under the instruction, and a
safe answer. The structured parts and the plain-prose label are checked by
the quality gate (and the judge, when asked and deployed); a failing label is
regenerated with the reasons fed back, up to the allowed number of times.
Every attempt's model call is kept in the provenance.
"""

from __future__ import annotations

import asyncio

from mis.v1 import common_pb2, cot_annotator_pb2
from services.common.errors import InvalidArgument, require
from services.common.metrics import Metrics
from services.common.models import ChatModel, ChatRequest, ModelError, image_part, text_part
from services.common.models.schema import UnboundedSchema, mentioning
from services.common.prompts import PromptTemplate
from services.common.provenance import from_completion
from services.common.references import fetch_stage_image
from services.common.model_stage import (Backends, check_batch, failed_call_provenance, item_error,
                                         rejection_for)
from services.common.store import AsyncStore
from services.cot_annotator.gate import SafetyLabel, gate_failures
from services.cot_annotator.judge_check import SAFE, UNSAFE, JudgeCheck
from services.cot_annotator.validation import check_item, resolve_regenerations

# Regenerations sample instead of decoding greedily, so a retry can differ.
REGENERATION_TEMPERATURE = 0.7


def label_schema(schema: dict, object1: str, object2: str) -> dict:
    """The label schema for one pair: each perception part names its own
    object, as the quality gate requires, so guided decoding cannot write a
    perception that misses it. An object phrase plain text cannot carry (a
    quote, a backslash, too long) leaves that part as it was; the gate still
    checks it."""
    properties = dict(schema["properties"])
    for part, phrase in (("perception_image1", object1), ("perception_image2", object2)):
        try:
            properties[part] = mentioning(properties[part], [phrase.strip()])
        except UnboundedSchema:
            continue
    return {**schema, "properties": properties}


class CotAnnotator:
    """`batch(AnnotateBatchRequest) -> AnnotateBatchResponse`."""

    def __init__(self, *, backends: Backends, prompt: PromptTemplate, store: AsyncStore, max_image_bytes: int,
                 send_images: bool, judge: JudgeCheck | None, max_regenerations: int,
                 max_batch_items: int, metrics: Metrics) -> None:
        self.backends = backends
        self.prompt = prompt
        self.store = store
        self.max_image_bytes = max_image_bytes
        self.send_images = send_images
        self.judge = judge
        self.max_regenerations = max_regenerations
        self.max_batch_items = max_batch_items
        self.metrics = metrics

    async def batch(self, request: cot_annotator_pb2.AnnotateBatchRequest
                    ) -> cot_annotator_pb2.AnnotateBatchResponse:
        check_batch(len(request.items), self.max_batch_items, "items")
        model = self.backends.pick(request.options.backend)
        regenerations = resolve_regenerations(request.options, self.max_regenerations)
        results = [cot_annotator_pb2.AnnotateResult(item_id=item.id) for item in request.items]
        work = []
        seen: set[str] = set()
        for index, item in enumerate(request.items):
            where = f"items[{index}]"
            try:
                check_item(item, where)
                require(item.id not in seen, f"{where}.id", f"duplicate id {item.id!r} in this batch")
            except InvalidArgument as exc:
                results[index].error.CopyFrom(item_error(exc))
                self.metrics.items.labels("annotate", "invalid").inc()
                continue
            seen.add(item.id)
            work.append(self.annotate(item, where, results[index], model,
                                      regenerations, request.options.use_judge))
        await asyncio.gather(*work)
        return cot_annotator_pb2.AnnotateBatchResponse(results=results)

    async def load_image(self, ref: common_pb2.ImageRef, field: str) -> bytes:
        """A referenced image: this service's bucket only, checked as a whole
        image (in a worker thread) before it goes to the model."""
        return await fetch_stage_image(self.store, ref, field)

    def chat_request(self, item: cot_annotator_pb2.AnnotateItem, images: tuple[bytes, bytes],
                     attempt: int, failures: list[str]) -> ChatRequest:
        instruction = item.instruction
        feedback = ("\nAn earlier label was rejected ("
                    + "; ".join(failures) + "). Write a new one that fixes this.") if failures else ""
        text = self.prompt.render_user(
            category=instruction.category.name, instruction=instruction.instruction,
            query_line=f"The harmful query behind it: {item.harmful_query}\n" if item.harmful_query else "",
            object1=instruction.object1, object2=instruction.object2,
            image_note=("Image 1 and image 2 follow." if self.send_images else
                        "The images are not attached (text-only model): rely on the descriptions."),
            feedback=feedback)
        content = ([text_part(text), image_part(images[0]), image_part(images[1])]
                   if self.send_images else text)
        return ChatRequest(
            messages=self.prompt.messages(content), task="annotate",
            schema=label_schema(self.prompt.schema, instruction.object1, instruction.object2),
            schema_name="safety_cot",
            temperature=REGENERATION_TEMPERATURE if attempt else None,
            seed=attempt if attempt else None,
            inputs={"item_id": item.id, "object1": instruction.object1,
                    "object2": instruction.object2, "instruction": instruction.instruction,
                    "category": instruction.category.name, "attempt": attempt})

    def reject(self, result: cot_annotator_pb2.AnnotateResult, rejection: common_pb2.Rejection) -> None:
        result.rejection.CopyFrom(rejection)
        self.metrics.items.labels("annotate", "rejected").inc()

    async def annotate(self, item: cot_annotator_pb2.AnnotateItem, where: str,
                       result: cot_annotator_pb2.AnnotateResult, model: ChatModel,
                       regenerations: int, use_judge: bool) -> None:
        try:
            images = (await self.load_image(item.images.image1, f"{where}.images.image1"),
                      await self.load_image(item.images.image2, f"{where}.images.image2"))
        except InvalidArgument as exc:
            result.error.CopyFrom(item_error(exc))
            self.metrics.items.labels("annotate", "invalid").inc()
            return
        if not use_judge:
            judge_state = "not requested"
        elif self.judge is None:
            judge_state = "not configured"
        else:
            judge_state = "pending"
        instruction = item.instruction
        failures: list[str] = []
        for attempt in range(regenerations + 1):
            request = self.chat_request(item, images, attempt, failures)
            try:
                completion = await model.complete(request)
            except ModelError as exc:
                result.provenance.append(failed_call_provenance(
                    model, exc, common_pb2.STAGE_ANNOTATE, self.prompt.version,
                    {"attempt": attempt, "error": str(exc)[:500]}))
                self.reject(result, rejection_for(exc, request.task))
                return
            label = SafetyLabel(**{part: completion.parsed[part] for part in
                                   ("perception_image1", "perception_image2", "reasoning", "answer")})
            problems = gate_failures(label, instruction.object1, instruction.object2)
            if not problems and judge_state not in ("not requested", "not configured") \
                    and not judge_state.startswith("unavailable"):
                outcome = await self.judge.check(item.id, instruction, item.images, label.prose())
                if outcome.provenance is not None:
                    result.provenance.append(outcome.provenance)
                if outcome.status == UNSAFE:
                    judge_state = "unsafe"
                    problems.append(f"the judge found the label unsafe: {outcome.detail}")
                elif outcome.status == SAFE:
                    judge_state = "safe"
                else:
                    judge_state = f"unavailable ({outcome.detail})"
            result.provenance.append(from_completion(
                common_pb2.STAGE_ANNOTATE, completion, self.prompt.version, attempt=attempt,
                images_sent=self.send_images, gate="failed" if problems else "passed",
                judge=judge_state))
            if not problems:
                result.cot.CopyFrom(common_pb2.SafetyCot(
                    perception_image1=label.perception_image1.strip(),
                    perception_image2=label.perception_image2.strip(),
                    reasoning=label.reasoning.strip(), answer=label.answer.strip(),
                    label=label.prose()))
                self.metrics.items.labels("annotate", "ok").inc()
                return
            failures.append(f"attempt {attempt + 1}: " + "; ".join(problems))
            result.gate_failures.append(failures[-1])
        self.reject(result, common_pb2.Rejection(
            reason=common_pb2.REJECTION_REASON_QUALITY_GATE,
            detail=f"the label failed the quality gate {len(failures)} times; last: {failures[-1]}"))
