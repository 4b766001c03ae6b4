"""A stage's own run options: what its declaration lists, and how a run's
value of each is found, checked and named.

A run writes them under `stages.<key>.options` (StageConfig.options, a free
mapping), so a stage with an option of its own adds it to its declaration,
not to coordinator.proto. Run configs written before that set the same
values as fields of RunConfig (`refinement_rounds`, `render: {width: ...}`);
each option names the field (or the key inside a mapping field) it was, and
that field is read as its deprecated alias. Every mistake is a
RunConfigError naming the key the run wrote it at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from google.protobuf import json_format, struct_pb2


class RunConfigError(ValueError):
    """A run config is malformed, or asks for what a stage does not serve;
    `key` is the path to the value at fault."""

    def __init__(self, key: str, reason: str) -> None:
        super().__init__(f"{key}: {reason}" if key else reason)
        self.key = key
        self.reason = reason

# The types an option may hold: what a YAML scalar and a protobuf Struct carry.
OPTION_TYPES: tuple[type, ...] = (int, float, bool, str)
_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


def _shown(value: Any) -> str:
    """A value as the run wrote it: a Struct holds 3 as 3.0."""
    if isinstance(value, float) and value.is_integer():
        return repr(int(value))
    return repr(value)


def _camel(name: str) -> str:
    """The protobuf JSON spelling of a field name, which a mapping field also accepted."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass(frozen=True)
class StageOption:
    """One run-level option of a stage: its name under `stages.<key>.options`,
    type, default, bounds or choices, what it does (one line, for the docs and
    the CLI), and the RunConfig field it was, `legacy` (`render.width` for a
    key inside the `render` mapping), read as a deprecated alias."""

    name: str
    kind: type
    default: Any
    description: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    legacy: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in OPTION_TYPES:
            raise TypeError(f"option {self.name!r}: {self.kind!r} is not one of "
                            f"{', '.join(t.__name__ for t in OPTION_TYPES)}")
        self.checked(self.default, f"option {self.name!r} default")

    def checked(self, value: Any, key: str) -> Any:
        """`value` as the declared type, within its bounds and choices;
        otherwise RunConfigError at `key`. A Struct carries every number as a
        double, so an integer option takes any whole number."""
        kind = self.kind
        if kind is bool:
            fits = isinstance(value, bool)
        elif kind is str:
            fits = isinstance(value, str)
        else:
            fits = isinstance(value, (int, float)) and not isinstance(value, bool)
            if fits and kind is int:
                fits = float(value).is_integer()
        if not fits:
            raise RunConfigError(key, f"expected {_TYPE_WORDS[kind]}, got {_shown(value)}")
        value = kind(value)
        low, high = self.minimum, self.maximum
        if low is not None and high is not None and not low <= value <= high:
            raise RunConfigError(key, f"must be between {low:g} and {high:g}")
        if low is not None and value < low:
            raise RunConfigError(key, f"must be {low:g} or more")
        if high is not None and value > high:
            raise RunConfigError(key, f"must be {high:g} or less")
        if self.choices and value not in self.choices:
            raise RunConfigError(key, f"{value!r} is not one of {', '.join(self.choices)}")
        return value

    def accepts(self) -> str:
        """What the option takes, in words (the docs' and the CLI's listing)."""
        words = {int: "integer", float: "number", bool: "true/false", str: "string"}[self.kind]
        low, high = self.minimum, self.maximum
        if self.choices:
            words += f", one of {', '.join(self.choices)}"
        elif low is not None and high is not None:
            words += f", {low:g} to {high:g}"
        elif low is not None:
            words += f", {low:g} or more"
        elif high is not None:
            words += f", at most {high:g}"
        return words


@dataclass(frozen=True)
class OptionValue:
    """A run's value of one option and the key it was written at (the
    option's own key when the run left it at its default), for messages."""

    value: Any
    key: str
    given: bool


def _legacy_value(config: Any, path: str, mappings: dict[str, dict]) -> Any | None:
    """The value a run wrote at a deprecated RunConfig field, or None: a
    proto3 scalar at its zero value was not written. `mappings` holds the
    mapping fields read so far, each read once per resolution."""
    field_name, _, inner = path.partition(".")
    field = config.DESCRIPTOR.fields_by_name[field_name]
    if inner:
        if field_name not in mappings:
            mappings[field_name] = (json_format.MessageToDict(getattr(config, field_name))
                                    if config.HasField(field_name) else {})
        written = mappings[field_name]
        return next((written[name] for name in (inner, _camel(inner)) if name in written), None)
    value = getattr(config, field_name)
    return None if value == field.default_value else value


def _check_legacy_mappings(declared: Sequence[StageOption], config: Any) -> None:
    """A key inside a deprecated mapping field (`render.rendrer`) that no
    option is the alias of is refused, naming it."""
    inner: dict[str, list[str]] = {}
    for option in declared:
        for path in option.legacy:
            field_name, _, key = path.partition(".")
            if key:
                inner.setdefault(field_name, []).append(key)
    for field_name, keys in inner.items():
        if not config.HasField(field_name):
            continue
        known = set(keys) | {_camel(key) for key in keys}
        for key in json_format.MessageToDict(getattr(config, field_name)):
            if key not in known:
                raise RunConfigError(f"{field_name}.{key}", f"unknown key (expected one of {', '.join(keys)})")


def resolve_options(stage_key: str, declared: Sequence[StageOption], given: struct_pb2.Struct | None,
                    config: Any) -> dict[str, OptionValue]:
    """Each declared option's value in the run: `stages.<key>.options.<name>`,
    else its deprecated RunConfig alias, else its default, each checked.
    An unknown option, a wrong type, a value out of bounds, or an option set
    at two keys to different values is a RunConfigError naming the key."""
    prefix = f"stages.{stage_key}.options"
    written = json_format.MessageToDict(given) if given is not None else {}
    names = [option.name for option in declared]
    for name in written:
        if name not in names:
            expected = f"expected one of {', '.join(names)}" if names else f"{stage_key} takes none"
            raise RunConfigError(f"{prefix}.{name}", f"unknown option ({expected})")
    _check_legacy_mappings(declared, config)
    values: dict[str, OptionValue] = {}
    mappings: dict[str, dict] = {}
    for option in declared:
        found = [(f"{prefix}.{option.name}", written[option.name])] if option.name in written else []
        found += [(path, value) for path in option.legacy
                  if (value := _legacy_value(config, path, mappings)) is not None]
        checked = [(key, option.checked(value, key)) for key, value in found]
        for key, value in checked[1:]:
            if value != checked[0][1]:
                raise RunConfigError(checked[0][0], f"{checked[0][1]!r} here but {value!r} at {key}, "
                                     f"which names the same option: set it once, at {prefix}.{option.name}")
        values[option.name] = (OptionValue(checked[0][1], checked[0][0], True) if checked
                               else OptionValue(option.default, f"{prefix}.{option.name}", False))
    return values
