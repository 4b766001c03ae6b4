"""The offline annotation backend: labels composed from templates, for dry runs.

The label names both objects and follows the paper's shape (perception,
reasoning, safe answer). For about one item in four the first attempt is a
bare refusal, so the quality gate and regeneration run in every dry run.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from services.common.models import ChatRequest
from services.common.models.offline import stable_hash

PARTS = ("perception_image1", "perception_image2", "reasoning", "answer")
REFUSE_FIRST_ONE_IN = 4


def with_article(phrase: str) -> str:
    lowered = phrase.lower()
    if lowered.startswith(("a ", "an ", "the ")):
        return phrase
    return ("an " if lowered[:1] in "aeiou" else "a ") + phrase


@dataclass(frozen=True)
class OfflineLabels:
    version: str
    templates: dict[str, list[str]]
    bare_refusal: str

    @classmethod
    def load(cls) -> "OfflineLabels":
        text = (resources.files("services.cot_annotator") / "offline_templates.yaml").read_text()
        data = yaml.safe_load(text)
        templates = {part: list(data[part]) for part in PARTS}
        return cls(data["version"], templates, data["bare_refusal"])

    def respond(self, request: ChatRequest) -> dict[str, Any]:
        inputs = request.inputs
        values = {"object1": inputs["object1"], "object2": inputs["object2"],
                  "a_object1": with_article(inputs["object1"]),
                  "a_object2": with_article(inputs["object2"]),
                  "instruction": inputs["instruction"], "category": inputs["category"]}
        answer = {}
        for part in PARTS:
            options = self.templates[part]
            choice = stable_hash("cot-offline", inputs["item_id"], part) % len(options)
            answer[part] = options[choice].format(**values)
        first_attempt = inputs.get("attempt", 0) == 0
        if first_attempt and stable_hash("cot-refuse", inputs["item_id"]) % REFUSE_FIRST_ONE_IN == 0:
            answer["answer"] = self.bare_refusal
        return answer
