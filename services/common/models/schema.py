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
Plain text has no `<` either: every special token of the tokenizers we serve
is spelled `<...>`, and xgrammar (vLLM's guided decoding) does not mask special
tokens, so a model could emit one as "text" inside a guided string; decoded
without special tokens, the answer would then lack it and could break the
very pattern the grammar checked.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from typing import Any

import jsonschema
from jsonschema.validators import Draft202012Validator

# Printable ASCII (space to tilde) except the quote, the backslash and `<`.
PLAIN_TEXT = r'[ !#-;=-\[\]-~]'


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


# Plain characters that are not word characters: after a phrase, one of these
# (or the end) keeps the phrase's last word whole.
_NON_WORD = r'[ !#-/:;=-@\[\]^`{-~]'
_NON_WORD_FIRST = r'[!#-/:;=-@\[\]^`{-~]'
# Characters a phrase may carry as themselves; others are written as a class.
_LITERAL = re.compile(r"[A-Za-z0-9 ]")
# The parts of each mentioning pattern (phrases, gap sizes), to build examples.
MENTION_PARTS: dict[str, tuple[tuple[str, ...], tuple[int, ...]]] = {}
_MAX_MENTION_PARTS = 1024


def _literal(phrase: str) -> str:
    return "".join(c if _LITERAL.fullmatch(c) else f"[{c}]" for c in phrase)


def mentionable(phrase: str) -> bool:
    """Whether plain text can name `phrase` as it is (no quote or backslash,
    printable ASCII, not starting or ending with a space)."""
    return bool(phrase) and phrase == phrase.strip() and re.fullmatch(f"{PLAIN_TEXT}+", phrase) is not None


def mentioning(string_schema: dict[str, Any], phrases: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """The string schema narrowed to plain text that names every phrase as
    whole words, in any order, within its `maxLength`.

    Guided decoding then cannot leave out what a later check requires (a
    detoxified instruction that keeps both image references, a perception
    that names its object), so even a model with random weights writes text
    those checks accept. The empty string stays allowed when `minLength` is
    0. The free text around the phrases is split into gaps whose longest
    total is exactly `maxLength`, so `max_answer_chars` stays a true bound."""
    phrases = tuple(phrases)
    if not phrases or not all(mentionable(p) for p in phrases) or len(phrases) > 3:
        raise UnboundedSchema(f"cannot name {list(phrases)!r} in plain text")
    # Lead "x... " or "(" (at most 2 + a), each further gap ", ... " (at most
    # 2 + b), tail "'s..." (at most 1 + c): a phrase is always beside a
    # non-word character or an end.
    fixed = sum(map(len, phrases)) + 2 + 2 * (len(phrases) - 1) + 1
    budget = string_schema["maxLength"] - fixed
    if budget < 0:
        raise UnboundedSchema(f"maxLength {string_schema['maxLength']} is too short to name {list(phrases)!r}")
    count = len(phrases) + 1
    gaps = tuple(budget // count + (1 if index >= count - budget % count else 0) for index in range(count))
    first = PLAIN_TEXT.replace(" ", "")
    lead = f"(|{_NON_WORD_FIRST}|{first}{_optional_run(PLAIN_TEXT, gaps[0])}{_NON_WORD})"
    tail = f"(|{_NON_WORD}{_optional_run(PLAIN_TEXT, gaps[-1])})"
    orders = [phrases] if len(phrases) == 1 else list(itertools.permutations(phrases))
    bodies = []
    for order in orders:
        middle = [f"{_NON_WORD}(|{_optional_run(PLAIN_TEXT, gap)}{_NON_WORD})" for gap in gaps[1:-1]]
        body = _literal(order[0]) + "".join(m + _literal(p) for m, p in zip(middle, order[1:]))
        bodies.append(body)
    core = f"{lead}({'|'.join(bodies)}){tail}" if len(bodies) > 1 else f"{lead}{bodies[0]}{tail}"
    pattern = f"^(|{core})$" if string_schema.get("minLength", 0) <= 0 else f"^{core}$"
    if len(MENTION_PARTS) >= _MAX_MENTION_PARTS:  # per-request phrases: keep the newest
        MENTION_PARTS.pop(next(iter(MENTION_PARTS)))
    MENTION_PARTS[pattern] = (phrases, gaps)
    out = {key: value for key, value in string_schema.items() if key not in ("pattern", MENTIONS)}
    return {**out, "pattern": pattern}


# The schema keyword a prompt file uses to ask for `mentioning` on a string.
MENTIONS = "x-mentions"


def with_mentions(schema: dict[str, Any]) -> dict[str, Any]:
    """Every string that carries `x-mentions: [phrase, ...]` turned into its
    `mentioning` pattern (the keyword itself is not sent to any endpoint)."""
    kind = schema.get("type")
    if kind == "string" and MENTIONS in schema:
        return mentioning(schema, schema[MENTIONS])
    if kind == "array":
        return {**schema, "items": with_mentions(schema["items"])}
    if kind == "object":
        return {**schema, "properties": {name: with_mentions(sub) for name, sub in schema["properties"].items()}}
    return schema


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
    mention = MENTION_PARTS.get(pattern) if isinstance(pattern, str) else None
    if mention is not None:
        return (f"{error.instance!r} is not plain text that names "
                + " and ".join(repr(p) for p in mention[0]) + " (as whole words)")
    bounds = _PLAIN_BOUNDS.get(pattern) if isinstance(pattern, str) else None
    if bounds is None:
        return error.message
    return (f"{error.instance!r} is not plain text of {bounds[0]} to {bounds[1]} characters "
            "(printable ASCII without \", \\ or <, not starting with a space)")


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
