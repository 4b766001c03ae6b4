"""The offline extractor: deterministic extraction from a lexicon, for dry runs.

It reads the seed the way the red-teaming prompt asks a model to: find the
category from the seed's harm cues (or its hint), keep the objects the seed
itself names, and write queries from per-category templates. A seed with no
harm cue yields harmless queries, which the detoxifier then rejects, so a dry
run exercises the same paths as a real one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

import yaml

from services.common.models import ChatRequest
from services.common.models.offline import stable_hash


@dataclass(frozen=True)
class CategoryLexicon:
    cues: tuple[str, ...]
    objects: tuple[str, ...]
    templates: tuple[str, ...]


@dataclass(frozen=True)
class ExtractionLexicon:
    version: str
    generic_objects: tuple[str, ...]
    benign_templates: tuple[str, ...]
    categories: dict[str, CategoryLexicon]

    @classmethod
    def bundled(cls) -> "ExtractionLexicon":
        text = (resources.files("services.extractor") / "data" / "offline-lexicon.yaml").read_text()
        data = yaml.safe_load(text)
        return cls(version=data["version"], generic_objects=tuple(data["generic_objects"]),
                   benign_templates=tuple(data["benign_templates"]),
                   categories={name: CategoryLexicon(tuple(entry["cues"]), tuple(entry["objects"]),
                                                     tuple(entry["templates"]))
                               for name, entry in data["categories"].items()})

    def entry(self, category: str) -> CategoryLexicon:
        return self.categories.get(category, self.categories["fallback"])

    def cue_scores(self, text: str, categories: list[str]) -> dict[str, int]:
        lowered = text.lower()
        return {name: sum(1 for cue in self.entry(name).cues if cue in lowered)
                for name in categories if name in self.categories}

    def mentioned_objects(self, text: str) -> list[str]:
        """Lexicon objects the seed names (by phrase or head noun), then vague nouns."""
        lowered = text.lower()
        found: list[tuple[int, str]] = []
        for entry in self.categories.values():
            for phrase in entry.objects:
                head = phrase.split()[-1]
                match = (re.search(rf"\b{re.escape(phrase)}\b", lowered)
                         or re.search(rf"\b{re.escape(head)}s?\b", lowered))
                if match and phrase not in (p for _, p in found):
                    found.append((match.start(), phrase))
        found.sort()
        objects = [phrase for _, phrase in found]
        # One phrase per head noun: "knife" must not yield two different knives.
        unique: list[str] = []
        for phrase in objects:
            if phrase.split()[-1] not in {p.split()[-1] for p in unique}:
                unique.append(phrase)
        for word in self.generic_objects:
            if re.search(rf"\b{re.escape(word)}\b", lowered):
                unique.append(word)
        return unique


class OfflineExtractor:
    """The offline backend's responder for the `extract` task."""

    def __init__(self, lexicon: ExtractionLexicon | None = None) -> None:
        self.lexicon = lexicon or ExtractionLexicon.bundled()

    def __call__(self, request: ChatRequest) -> dict[str, Any]:
        inputs = request.inputs
        text, seed_id = inputs["text"], inputs["seed_id"]
        categories: list[str] = inputs["categories"]
        count: int = inputs["count"]
        scores = self.lexicon.cue_scores(text, categories)
        harmful = any(scores.values()) or bool(inputs.get("category_hint"))
        category = self.choose_category(inputs.get("category_hint", ""), scores, categories, seed_id)
        entry = self.lexicon.entry(category)
        templates = entry.templates if harmful else self.lexicon.benign_templates
        mentioned = self.lexicon.mentioned_objects(text)
        queries = []
        for index in range(count):
            pick = stable_hash(seed_id, index)
            if index == 0 and mentioned:
                # The first query keeps what the seed itself names, padded from the lexicon.
                pair = (mentioned + [o for o in entry.objects if o not in mentioned])[:2]
            else:
                first = entry.objects[pick % len(entry.objects)]
                rest = [o for o in entry.objects if o != first]
                pair = [first, rest[(pick // 7) % len(rest)]]
            template = templates[(index + stable_hash(seed_id)) % len(templates)]
            queries.append({"category": category,
                            "question": template.format(object1=pair[0], object2=pair[1]),
                            "object1": pair[0], "object2": pair[1]})
        return {"queries": queries}

    @staticmethod
    def choose_category(hint: str, scores: dict[str, int], categories: list[str], seed_id: str) -> str:
        if hint:
            return hint
        best = max(scores.values(), default=0)
        if best > 0:
            # Ties go to the taxonomy's order, so the choice is stable.
            return next(name for name in categories if scores.get(name) == best)
        return categories[stable_hash(seed_id) % len(categories)]
