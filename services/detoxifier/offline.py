"""The offline detoxifier: both passes from a lexicon, deterministic, for dry runs.

Modify-and-filter rejects a query with no harm cue, or whose objects are too
vague or absent from the query; makes vague people concrete; and puts typed
placeholders where the objects were. Detox swaps the explicit wording it knows
for implicit wording and leaves the rest, so the filter still finds some
instructions unsafe (the train split), as happens with a real model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from services.common.models import ChatRequest

ORDINALS = ("first", "second")


@dataclass(frozen=True)
class DetoxLexicon:
    version: str
    harm_cues: tuple[str, ...]
    vague_objects: frozenset[str]
    concrete_people: dict[str, str]
    placeholder_types: dict[str, str]
    implicit_wording: tuple[tuple[str, str], ...]

    @classmethod
    def bundled(cls) -> "DetoxLexicon":
        data = yaml.safe_load((resources.files("services.detoxifier") / "data" / "offline-lexicon.yaml").read_text())
        types = {noun: kind for kind, nouns in data["placeholder_types"].items() for noun in nouns}
        return cls(data["version"], tuple(data["harm_cues"]), frozenset(data["vague_objects"]),
                   dict(data["concrete_people"]), types,
                   tuple((old, new) for old, new in data["implicit_wording"]))

    def placeholder(self, phrase: str, ordinal: str) -> str:
        kind = self.placeholder_types.get(phrase.split()[-1].lower(), "object")
        return f"the {kind} in the {ordinal} image"


def find_object(query: str, phrase: str) -> re.Match | None:
    """Where the object is named in the query, with its article; by head noun as a fallback."""
    for words in (phrase, phrase.split()[-1]):
        match = re.search(rf"\b(?:(?:the|a|an|this|that|my|your|some)\s+)?{re.escape(words)}\b",
                          query, re.IGNORECASE)
        if match:
            return match
    return None


class OfflineModifyFilter:
    """Responder for the `modify_filter` task."""

    def __init__(self, lexicon: DetoxLexicon) -> None:
        self.lexicon = lexicon

    def __call__(self, request: ChatRequest) -> dict[str, Any]:
        query: str = request.inputs["query"]
        objects = [request.inputs["object1"].strip(), request.inputs["object2"].strip()]
        lowered = query.lower()
        if not any(cue in lowered for cue in self.lexicon.harm_cues):
            return self.reject("no_harm", "the query has no harm cue")
        concrete = []
        for number, phrase in enumerate(objects, 1):
            words = phrase.lower().split()
            if not words or words[-1] in self.lexicon.vague_objects:
                return self.reject("objects_unusable", f"object{number} {phrase!r} is too vague to draw")
            concrete.append(self.lexicon.concrete_people.get(phrase.lower(), phrase))
        if concrete[0].lower() == concrete[1].lower():
            return self.reject("objects_unusable", "the two objects are the same")
        rewritten = query
        for number, (phrase, ordinal) in enumerate(zip(objects, ORDINALS), 1):
            match = find_object(rewritten, phrase)
            if match is None:
                return self.reject("objects_unusable", f"object{number} {phrase!r} is not in the query")
            rewritten = (rewritten[:match.start()] + self.lexicon.placeholder(concrete[number - 1], ordinal)
                         + rewritten[match.end():])
        return {"verdict": "keep", "reason": "harm comes from using the two objects together",
                "object1": concrete[0], "object2": concrete[1], "placeholder_query": rewritten}

    @staticmethod
    def reject(verdict: str, reason: str) -> dict[str, Any]:
        return {"verdict": verdict, "reason": reason, "object1": "", "object2": "", "placeholder_query": ""}


class OfflineDetox:
    """Responder for the `detox` task."""

    def __init__(self, lexicon: DetoxLexicon) -> None:
        self.lexicon = lexicon

    def __call__(self, request: ChatRequest) -> dict[str, Any]:
        instruction: str = request.inputs["placeholder_query"]
        changes = []
        for explicit, implicit in self.lexicon.implicit_wording:
            pattern = re.compile(re.escape(explicit), re.IGNORECASE)
            if pattern.search(instruction):
                instruction = pattern.sub(implicit, instruction)
                changes.append(f"{explicit.strip()!r} -> {implicit.strip()!r}" if implicit.strip()
                               else f"dropped {explicit.strip()!r}")
        explanation = ("; ".join(changes) if changes else "no explicit wording found to soften")
        return {"explanation": explanation, "instruction": re.sub(r"\s+", " ", instruction).strip()}


def offline_responders() -> dict[str, Any]:
    lexicon = DetoxLexicon.bundled()
    return {"modify_filter": OfflineModifyFilter(lexicon), "detox": OfflineDetox(lexicon)}
