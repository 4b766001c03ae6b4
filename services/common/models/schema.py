"""Checking a parsed model answer against the JSON schema we asked for.

Endpoints differ in how strictly they enforce structured output (vLLM's guided
decoding can still stop at max_tokens mid-object), so every answer is checked
here. Only the schema subset our prompts use is supported: object, array,
string, integer, number, boolean, enum, required, minItems/maxItems, minLength.
"""

from __future__ import annotations

import json
from typing import Any


class SchemaViolation(ValueError):
    """The answer does not fit; the message names the path and the reason."""


_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool,
          "integer": int, "number": (int, float)}


def check(value: Any, schema: dict[str, Any], path: str = "$") -> None:
    kind = schema.get("type")
    if kind is not None:
        expected = _TYPES[kind]
        if not isinstance(value, expected) or (kind in ("integer", "number") and isinstance(value, bool)):
            raise SchemaViolation(f"{path}: expected {kind}, got {type(value).__name__}")
    if "enum" in schema and value not in schema["enum"]:
        raise SchemaViolation(f"{path}: {value!r} is not one of {schema['enum']}")
    if kind == "string" and len(value.strip()) < schema.get("minLength", 0):
        raise SchemaViolation(f"{path}: shorter than {schema['minLength']} characters")
    if kind == "object":
        for name in schema.get("required", []):
            if name not in value:
                raise SchemaViolation(f"{path}.{name}: missing")
        properties = schema.get("properties", {})
        for name, item in value.items():
            if name in properties:
                check(item, properties[name], f"{path}.{name}")
    if kind == "array":
        if len(value) < schema.get("minItems", 0):
            raise SchemaViolation(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise SchemaViolation(f"{path}: more than {schema['maxItems']} items")
        for index, item in enumerate(value):
            check(item, schema.get("items", {}), f"{path}[{index}]")


def parse_json_answer(text: str, schema: dict[str, Any]) -> Any:
    """Parse `text` as JSON (tolerating a fenced code block) and check it."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`")
        body = body[body.find("\n") + 1:] if "\n" in body else body
        body = body.rsplit("```", 1)[0]
    if not body:
        raise SchemaViolation("$: empty answer")
    try:
        value = json.loads(body)
    except json.JSONDecodeError as exc:
        raise SchemaViolation(f"$: not valid JSON ({exc.msg} at character {exc.pos})") from None
    check(value, schema)
    return value
