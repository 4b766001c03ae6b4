"""Prompt templates as versioned data files.

A prompt is a YAML file in a service's `prompts/` folder: a version, a system
message, few-shot examples and a user template with `{placeholders}`. The
version goes into every output's provenance, so a dataset says exactly which
wording produced it; changing the wording means bumping the version.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from services.common.models.schema import UnboundedSchema, check_bounded, with_mentions


class PromptError(ValueError):
    pass


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: str
    system: str
    user: str
    examples: tuple[dict[str, str], ...] = ()
    schema: dict[str, Any] = field(default_factory=dict)

    def placeholders(self) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(self.user) if name}

    def render_user(self, **values: Any) -> str:
        missing = self.placeholders() - values.keys()
        if missing:
            raise PromptError(f"prompt {self.name}: no value for {', '.join(sorted(missing))}")
        return self.user.format(**values)

    def messages(self, user_content: Any) -> list[dict[str, Any]]:
        """System message, few-shot turns, then the user turn (text or parts)."""
        out: list[dict[str, Any]] = [{"role": "system", "content": self.system}]
        for example in self.examples:
            out.append({"role": "user", "content": example["user"]})
            out.append({"role": "assistant", "content": example["assistant"]})
        out.append({"role": "user", "content": user_content})
        return out


def load_prompt(package: str, name: str) -> PromptTemplate:
    """Load `<package>/prompts/<name>.yaml` and check it is complete."""
    try:
        text = (resources.files(package) / "prompts" / f"{name}.yaml").read_text()
    except FileNotFoundError:
        raise PromptError(f"{package}: no prompt named {name}") from None
    data = yaml.safe_load(text)
    where = f"{package}/prompts/{name}.yaml"
    for key in ("version", "system", "user"):
        if not isinstance(data.get(key), str) or not data[key].strip():
            raise PromptError(f"{where}: {key}: required, a non-empty string")
    examples = data.get("examples") or []
    for index, example in enumerate(examples):
        if not isinstance(example, dict) or not {"user", "assistant"} <= example.keys():
            raise PromptError(f"{where}: examples[{index}]: needs user and assistant")
    schema = data.get("schema") or {}
    if schema:
        # An answer schema must bound what a model can emit, so guided
        # decoding always ends in a complete object.
        try:
            schema = with_mentions(schema)
            check_bounded(schema)
        except UnboundedSchema as exc:
            raise PromptError(f"{where}: schema: {exc}") from None
    return PromptTemplate(name=name, version=data["version"], system=data["system"].strip(),
                          user=data["user"], examples=tuple(examples), schema=schema)
