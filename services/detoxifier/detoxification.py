"""Instruction refinement and detoxification (MIS-facts section 3.2) in plain Python.

`Detoxification.batch` runs the paper's two passes per query: modify-and-filter
(reject when there is no harm or no two usable objects, make the objects
concrete, put typed placeholders in the query), then detox (implicit wording,
an explanation, the neutral instruction). Model answers are checked beyond the
schema: a placeholder query or instruction that lost an image reference, or
still names an object, is rejected as unusable output with the reason.
"""

from __future__ import annotations

import asyncio
import re

from mis.v1 import common_pb2, detoxifier_pb2
from services.common.errors import InvalidArgument, require
from services.common.metrics import Metrics
from services.common.models import ChatModel, ChatRequest
from services.common.prompts import load_prompt
from services.common.taxonomy import Taxonomy
from services.common.model_stage import (Backends, StageRejected, ask, check_batch, check_text,
                                         item_error, rejection, request_taxonomy)

STAGE = common_pb2.STAGE_DETOXIFY
MAX_OBJECT_WORDS = 8
_IMAGE_REFERENCE = {
    "first": re.compile(r"\b(first|1st)\s+image\b|\bimage\s*(1|one)\b", re.IGNORECASE),
    "second": re.compile(r"\b(second|2nd)\s+image\b|\bimage\s*(2|two)\b", re.IGNORECASE),
}
_PLACEHOLDER = re.compile(r"\bthe\s+[\w-]+\s+in\s+the\s+(first|second|1st|2nd)\s+image\b")
_VERDICT_REASONS = {"no_harm": common_pb2.REJECTION_REASON_NO_HARM,
                    "objects_unusable": common_pb2.REJECTION_REASON_OBJECTS_UNUSABLE}


def text_problem(text: str, objects: tuple[str, ...], what: str) -> str | None:
    """Why a rewritten query is unusable: a lost image reference or a named object.

    `objects` are the phrases that must not appear: object1, object2, then
    (optionally) the query's original wording of object1, object2."""
    for ordinal, pattern in _IMAGE_REFERENCE.items():
        if not pattern.search(text):
            return f"{what} does not refer to the {ordinal} image: {text!r}"
    # The placeholders themselves ("the person in the first image") are not object names.
    lowered = _PLACEHOLDER.sub(" ", text.lower())
    for index, phrase in enumerate(objects):
        number = index % 2 + 1
        if phrase and re.search(rf"\b{re.escape(phrase.lower())}\b", lowered):
            return f"{what} still names object{number} {phrase!r}: {text!r}"
    return None


def check_query(query: common_pb2.HarmfulQuery, field: str, taxonomy: Taxonomy, limit: int) -> None:
    require(query.id.strip(), f"{field}.id", "required, a non-empty string")
    check_text(query.query, f"{field}.query", limit)
    for name in ("object1", "object2"):
        check_text(getattr(query, name), f"{field}.{name}", 200)
    require(query.category.name, f"{field}.category.name", "required")
    require(taxonomy.has_category(query.category.name), f"{field}.category.name",
            f"{query.category.name!r} is not in taxonomy {taxonomy.version}")
    if query.category.sub_category:
        require(taxonomy.has_sub_category(query.category.name, query.category.sub_category),
                f"{field}.category.sub_category",
                f"{query.category.sub_category!r} is not a sub-category of {query.category.name!r}")


class Detoxification:
    """The detoxifier's logic, shared by the gRPC servicer and in-process callers."""

    def __init__(self, *, llm: Backends, taxonomy: Taxonomy, max_batch_items: int = 256,
                 max_text_chars: int = 4000, metrics: Metrics | None = None) -> None:
        self.llm = llm
        self.taxonomy = taxonomy
        self.max_batch_items = max_batch_items
        self.max_text_chars = max_text_chars
        self.metrics = metrics
        self.modify_prompt = load_prompt("services.detoxifier", "modify_filter")
        self.detox_prompt = load_prompt("services.detoxifier", "detox")

    async def batch(self, request: detoxifier_pb2.DetoxifyBatchRequest) -> detoxifier_pb2.DetoxifyBatchResponse:
        check_batch(len(request.queries), self.max_batch_items, "queries")
        taxonomy = request_taxonomy(request.options.taxonomy, self.taxonomy)
        model = self.llm.pick(request.options.backend)
        results = await asyncio.gather(*(self.one(query, f"queries[{index}]", taxonomy, model)
                                         for index, query in enumerate(request.queries)))
        return detoxifier_pb2.DetoxifyBatchResponse(results=results)

    async def one(self, query: common_pb2.HarmfulQuery, field: str, taxonomy: Taxonomy,
                  model: ChatModel) -> detoxifier_pb2.DetoxifyResult:
        result = detoxifier_pb2.DetoxifyResult(query_id=query.id)
        try:
            check_query(query, field, taxonomy, self.max_text_chars)
        except InvalidArgument as exc:
            result.error.CopyFrom(item_error(exc))
            self.count("invalid")
            return result
        try:
            refined = await self.modify_and_filter(query, model, result)
            if refined is None:
                self.count("rejected")
                return result
            objects, placeholder_query = refined
            named = (*objects, query.object1.strip(), query.object2.strip())
            explanation, instruction = await self.detox(placeholder_query, named, model, result)
        except StageRejected as rejected:
            result.rejection.CopyFrom(rejected.rejection)
            result.provenance.append(rejected.provenance)
            self.count("rejected")
            return result
        result.instruction.CopyFrom(common_pb2.NeutralInstruction(
            id=f"{query.id}-n", query_id=query.id, category=query.category, instruction=instruction,
            object1=objects[0], object2=objects[1], placeholder_query=placeholder_query,
            explanation=explanation))
        self.count("ok")
        return result

    async def modify_and_filter(self, query: common_pb2.HarmfulQuery, model: ChatModel,
                                result: detoxifier_pb2.DetoxifyResult) -> tuple[tuple[str, str], str] | None:
        """Pass 1: (concrete objects, placeholder query), or None with the rejection set."""
        prompt = self.modify_prompt
        chat = ChatRequest(
            messages=prompt.messages(prompt.render_user(query=query.query, object1=query.object1,
                                                        object2=query.object2)),
            task="modify_filter", schema=prompt.schema, schema_name="modify_filter",
            inputs={"query": query.query, "object1": query.object1, "object2": query.object2,
                    "category": query.category.name})
        answer, record = await ask(model, chat, STAGE, prompt.version, pass_name="modify_filter")
        if answer["verdict"] in _VERDICT_REASONS:
            result.provenance.append(record)
            result.rejection.CopyFrom(rejection(_VERDICT_REASONS[answer["verdict"]],
                                                f"modify-and-filter: {answer['reason']}"))
            return None
        objects = (answer["object1"].strip(), answer["object2"].strip())
        problem = None
        if not all(objects) or any(len(o.split()) > MAX_OBJECT_WORDS for o in objects):
            problem = f"kept the query but objects are not short phrases: {list(objects)}"
        elif objects[0].lower() == objects[1].lower():
            problem = f"kept the query but both objects are {objects[0]!r}"
        else:
            problem = text_problem(answer["placeholder_query"].strip(),
                                   (*objects, query.object1.strip(), query.object2.strip()), "placeholder_query")
        if problem:
            raise StageRejected(rejection(common_pb2.REJECTION_REASON_UNPARSEABLE_OUTPUT,
                                          f"modify-and-filter: {problem}"), record)
        result.provenance.append(record)
        return objects, answer["placeholder_query"].strip()

    async def detox(self, placeholder_query: str, objects: tuple[str, ...], model: ChatModel,
                    result: detoxifier_pb2.DetoxifyResult) -> tuple[str, str]:
        """Pass 2: (explanation, neutral instruction)."""
        prompt = self.detox_prompt
        chat = ChatRequest(messages=prompt.messages(prompt.render_user(placeholder_query=placeholder_query)),
                           task="detox", schema=prompt.schema, schema_name="detox",
                           inputs={"placeholder_query": placeholder_query})
        answer, record = await ask(model, chat, STAGE, prompt.version, pass_name="detox")
        instruction = answer["instruction"].strip()
        problem = text_problem(instruction, objects, "instruction")
        if problem:
            raise StageRejected(rejection(common_pb2.REJECTION_REASON_UNPARSEABLE_OUTPUT,
                                          f"detox: {problem}"), record)
        result.provenance.append(record)
        return answer["explanation"].strip(), instruction

    def count(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.items.labels("detoxify", outcome).inc()
