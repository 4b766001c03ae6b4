"""The VLM check that a retrieved photo shows its object, and the choice of a
pair: for each object, the best-scored candidate the check accepts.

CLIP similarity ranks photos whose captions or surroundings merely mention an
object; a VLM looking at the photo itself rejects those, as the T2I review
does for drawn images. The offline backend answers from the candidate's
caption, so dry runs are deterministic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from mis.v1 import common_pb2
from services.common.models import ChatModel, ChatRequest
from services.common.models.base import image_part, text_part
from services.common.prompts import load_prompt
from services.common.model_stage import StageRejected, ask
from services.retriever.retrieval import Candidate

PROMPT = load_prompt("services.retriever", "check_photo")
TASK = "check_photo"


@dataclass(frozen=True)
class Check:
    shows_object: bool
    reason: str
    provenance: common_pb2.Provenance


def offline_check(request: ChatRequest) -> dict[str, Any]:
    """Accept a photo whose caption names a word of the object phrase."""
    words = set(re.findall(r"[a-z0-9]+", request.inputs["object"].lower()))
    caption = set(re.findall(r"[a-z0-9]+", request.inputs["caption"].lower()))
    shared = sorted(words & caption)
    if shared:
        return {"shows_object": True, "reason": f"the caption names {' '.join(shared)}"}
    return {"shows_object": False, "reason": "the caption names no word of the object"}


async def check_photo(model: ChatModel, photo: bytes, candidate: Candidate, phrase: str,
                      instruction: str) -> Check:
    user = PROMPT.render_user(object=phrase, instruction=instruction or "(none)")
    request = ChatRequest(messages=PROMPT.messages([image_part(photo), text_part(user)]),
                          task=TASK, schema=PROMPT.schema, schema_name="photo_check",
                          inputs={"object": phrase, "caption": candidate.caption,
                                  "item_id": candidate.item_id})
    try:
        answer, record = await ask(model, request, common_pb2.STAGE_RETRIEVE, PROMPT.version)
    except StageRejected as exc:
        return Check(False, exc.rejection.detail, exc.provenance)
    return Check(bool(answer["shows_object"]), answer["reason"], record)


async def choose(candidates: list[Candidate], accept: Callable[[Candidate], Awaitable[Check | None]]
                 ) -> tuple[int, Candidate, Check | None] | None:
    """The first candidate (best score first) that `accept` passes, with its rank."""
    for rank, candidate in enumerate(candidates, 1):
        verdict = await accept(candidate)
        if verdict is None or verdict.shows_object:
            return rank, candidate, verdict
    return None
