"""The JSON schemas we ask models for: bounded so guided decoding always ends,
and every answer checked against them with the `jsonschema` library.

Endpoints differ in how strictly they enforce structured output (vLLM's guided
decoding stops at max_tokens mid-object when a schema lets a model go on), so
every answer is validated here, in full: types, enums, `required`,
`additionalProperties`, lengths, item counts and patterns.

A model schema must bound everything a model can emit (`check_bounded`): every
string has an enum or a `maxLength`, every array a `maxItems`, every object
lists its properties, requires them all and forbids others. Free-text strings
are plain text (`PLAIN_TEXT`): printable ASCII without `"` or `\\`, so no
escape sequence and no multi-byte character makes one character cost several
tokens, and `max_answer_chars` is a true upper bound on the answer's length.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any

import jsonschema
from jsonschema.validators import Draft202012Validator

# Printable ASCII (space to tilde) except the quote and the backslash.
PLAIN_TEXT = r'[ !#-\[\]-~]'


class SchemaViolation(ValueError):
    """The answer does not fit; the message names the path and the reason."""


class UnboundedSchema(ValueError):
    """A model schema lets a model emit without limit; names the path."""


# The lengths each plain-text pattern stands for, to say a mismatch in words.
_PLAIN_BOUNDS: dict[str, tuple[int, int]] = {}
# xgrammar 0.2.8 fails to compile (with its grammar cache on, as in vLLM) a
# repetition whose upper bound is over 128, so longer runs are chained.
_MAX_REPEAT = 128


def _optional_run(atom: str, high: int) -> str:
    """0 to `high` atoms. Past _MAX_REPEAT the run nests, and only a full
    chunk opens the next one, so the pattern stays unambiguous (no
    catastrophic backtracking when Python's `re` checks a long answer)."""
    if high <= _MAX_REPEAT:
        return f"{atom}{{0,{high}}}"
    return f"({atom}{{{_MAX_REPEAT}}}{_optional_run(atom, high - _MAX_REPEAT)}|{atom}{{0,{_MAX_REPEAT - 1}}})"


def _repeat(atom: str, low: int, high: int) -> str:
    """atom{low,high} with no single repetition over _MAX_REPEAT."""
    parts = []
    while low > 0:
        take = min(low, _MAX_REPEAT)
        parts.append(f"{atom}{{{take}}}")
        low, high = low - take, high - take
    return "".join(parts) + (_optional_run(atom, high) if high > 0 else "")


def plain_text_pattern(min_length: int, max_length: int) -> str:
    """Free text of min_length to max_length plain characters; the first is
    not a space, so a blank answer never passes."""
    first = PLAIN_TEXT.replace(" ", "")
    rest = _repeat(PLAIN_TEXT, max(min_length - 1, 0), max_length - 1)
    # "(|...)", not "(...)?": xgrammar 0.2.8 lets a leading space through the latter.
    pattern = f"^(|{first}{rest})$" if min_length <= 0 else f"^{first}{rest}$"
    _PLAIN_BOUNDS[pattern] = (max(min_length, 0), max_length)
    return pattern


def check_bounded(schema: dict[str, Any], path: str = "$") -> None:
    """Raise UnboundedSchema naming the first place a model could emit
    without limit (or where strict structured output would refuse)."""
    if "enum" in schema:
        return
    kind = schema.get("type")
    if kind == "string":
        if "maxLength" not in schema:
            raise UnboundedSchema(f"{path}: a string needs maxLength (a pattern must say its "
                                  "bound in maxLength too) or an enum")
    elif kind == "array":
        if "maxItems" not in schema or not isinstance(schema.get("items"), dict):
            raise UnboundedSchema(f"{path}: an array needs items and maxItems")
        check_bounded(schema["items"], f"{path}[]")
    elif kind == "object":
        properties = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            raise UnboundedSchema(f"{path}: an object needs additionalProperties: false")
        if set(schema.get("required", [])) != set(properties) or not properties:
            raise UnboundedSchema(f"{path}: an object must list properties and require them all")
        for name, sub in properties.items():
            check_bounded(sub, f"{path}.{name}")
    elif kind in ("integer", "number"):
        if "maximum" not in schema or "minimum" not in schema:
            raise UnboundedSchema(f"{path}: a number needs an enum or minimum and maximum")
    elif kind != "boolean":
        raise UnboundedSchema(f"{path}: type {kind!r} is not allowed in a model schema")


def _guided(schema: dict[str, Any]) -> dict[str, Any]:
    out = dict(schema)
    kind = schema.get("type")
    if kind == "string" and "enum" not in schema:
        # xgrammar refuses a pattern together with a length bound (vLLM checks
        # it): the length goes into the pattern.
        low, high = out.pop("minLength", 0), out.pop("maxLength")
        out.setdefault("pattern", plain_text_pattern(low, high))
    elif kind == "array":
        out["items"] = _guided(schema["items"])
    elif kind == "object":
        out["properties"] = {name: _guided(sub) for name, sub in schema["properties"].items()}
    return out


@functools.lru_cache(maxsize=256)
def _guided_text(schema_text: str) -> str:
    return json.dumps(_guided(json.loads(schema_text)))


def guided(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema as sent for guided decoding: every free-text string becomes
    a plain-text pattern with its length bounds folded in. A schema that is
    not bounded (`check_bounded`) is sent unchanged."""
    try:
        check_bounded(schema)
    except UnboundedSchema:
        return schema
    # Key order kept: guided decoding emits properties in the order listed.
    return json.loads(_guided_text(json.dumps(schema)))


def max_answer_chars(schema: dict[str, Any]) -> int:
    """The longest compact JSON text fitting a bounded schema. Every token
    emits at least one character, so this also bounds the answer's tokens."""
    if "enum" in schema:
        return max(len(json.dumps(option)) for option in schema["enum"])
    kind = schema.get("type")
    if kind == "string":
        return schema["maxLength"] + 2
    if kind == "array":
        count = schema["maxItems"]
        return 2 + count * max_answer_chars(schema["items"]) + max(count - 1, 0)
    if kind == "object":
        properties = schema["properties"]
        fields = sum(len(json.dumps(name)) + 1 + max_answer_chars(sub) for name, sub in properties.items())
        return 2 + fields + max(len(properties) - 1, 0)
    if kind in ("integer", "number"):
        return max(len(str(schema["minimum"])), len(str(schema["maximum"])))
    return len("false")


@functools.lru_cache(maxsize=256)
def _validator(schema_text: str) -> Draft202012Validator:
    schema = json.loads(schema_text)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _where(error: jsonschema.ValidationError) -> str:
    path = "$"
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _reason(error: jsonschema.ValidationError) -> str:
    """jsonschema's message, but a plain-text pattern said in words."""
    pattern = error.validator_value if error.validator == "pattern" else ""
    bounds = _PLAIN_BOUNDS.get(pattern) if isinstance(pattern, str) else None
    if bounds is None:
        return error.message
    return (f"{error.instance!r} is not plain text of {bounds[0]} to {bounds[1]} characters "
            "(printable ASCII without \" or \\, not starting with a space)")


def check(value: Any, schema: dict[str, Any]) -> None:
    """Raise SchemaViolation naming the first offending path and the reason."""
    validator = _validator(json.dumps(schema, sort_keys=True))
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is not None:
        raise SchemaViolation(f"{_where(error)}: {_reason(error)}")


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
