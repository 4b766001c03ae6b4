"""The judge's rubric and refusal-phrase list as versioned data files.

A rubric lives in `services/judge/rubrics/<version>.yaml`; the keyword
baseline's phrases in `services/judge/data/refusal-phrases-<n>.txt`. Both are
loaded and checked once at start, so a broken file stops the service instead
of producing verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from services.common.models.schema import UnboundedSchema, check_bounded, max_answer_chars
from services.common.prompts import PromptTemplate

REFUSAL_PHRASES = "refusal-phrases-v1"


class RubricError(ValueError):
    """A rubric or phrase file is missing or malformed; the message says where."""


@dataclass(frozen=True)
class Rubric:
    version: str
    prompt: PromptTemplate
    temperature: float = 0.0
    max_tokens: int = 128
    schema: dict[str, Any] = field(default_factory=dict)


def load_rubric(version: str) -> Rubric:
    where = f"services/judge/rubrics/{version}.yaml"
    try:
        text = (resources.files("services.judge") / "rubrics" / f"{version}.yaml").read_text()
    except FileNotFoundError:
        raise RubricError(f"{where}: no such rubric (MIS_JUDGE_RUBRIC)") from None
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise RubricError(f"{where}: expected a mapping")
    for key in ("version", "system", "user"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise RubricError(f"{where}: {key}: required, a non-empty string")
    if data["version"] != version:
        raise RubricError(f"{where}: version {data['version']!r} does not match the file name")
    schema = data.get("schema")
    if not isinstance(schema, dict) or not {"perception_level", "safety", "rationale"} <= set(
            schema.get("properties", {})):
        raise RubricError(f"{where}: schema: needs perception_level, safety and rationale")
    try:
        check_bounded(schema)
    except UnboundedSchema as exc:
        raise RubricError(f"{where}: schema: {exc}") from None
    max_tokens = int(data.get("max_tokens", 128))
    if max_tokens < max_answer_chars(schema):
        raise RubricError(f"{where}: max_tokens: {max_tokens} is below the longest answer the "
                          f"schema allows ({max_answer_chars(schema)}), so an answer could be cut off")
    prompt = PromptTemplate(name=version, version=version, system=data["system"].strip(),
                            user=data["user"], schema=schema)
    if prompt.placeholders() != {"question", "response"}:
        raise RubricError(f"{where}: user: must use exactly {{question}} and {{response}}")
    return Rubric(version=version, prompt=prompt, temperature=float(data.get("temperature", 0.0)),
                  max_tokens=max_tokens, schema=schema)


@dataclass(frozen=True)
class RefusalPhrases:
    version: str
    phrases: tuple[str, ...]


def load_refusal_phrases(name: str = REFUSAL_PHRASES) -> RefusalPhrases:
    where = f"services/judge/data/{name}.txt"
    try:
        text = (resources.files("services.judge") / "data" / f"{name}.txt").read_text()
    except FileNotFoundError:
        raise RubricError(f"{where}: no such phrase list") from None
    phrases = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            phrases.append(normalise(line))
    if not phrases:
        raise RubricError(f"{where}: no phrases")
    return RefusalPhrases(version=name, phrases=tuple(dict.fromkeys(phrases)))


def normalise(text: str) -> str:
    """Lower case with typographic apostrophes made plain, so "I’m" matches "i'm"."""
    return text.lower().replace("\u2019", "'").replace("\u2018", "'")
