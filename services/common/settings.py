"""Typed settings read from the environment once at start.

A service declares a frozen dataclass whose fields carry their environment
variable in metadata; `load_settings` reads, converts and validates them and
fails fast with a `SettingsError` naming the variable and what was wrong, so a
misconfigured pod dies at start with a readable message instead of at the
first request.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar

T = TypeVar("T")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def env(name: str, default: Any = dataclasses.MISSING, *, help: str = "",
        check: Callable[[Any], str | None] | None = None, secret: bool = False) -> Any:
    """Declare a settings field read from environment variable `name`.

    `check` returns an error text for a bad value (or None). Secrets are
    redacted when settings are logged.
    """
    meta = {"env": name, "help": help, "check": check, "secret": secret}
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple for sequence defaults")
    return dataclasses.field(default=default, metadata=meta)


def group(cls: type, prefix: str = "") -> Any:
    """Declare a nested settings group; its variables are read as `prefix + name`.

    The same group class can then serve twice, e.g. an LLM and a VLM endpoint
    under MIS_LLM_ and MIS_VLM_.
    """
    return dataclasses.field(default=None, metadata={"group": cls, "prefix": prefix})


def positive(value: Any) -> str | None:
    return None if value > 0 else "must be greater than 0"


def non_negative(value: Any) -> str | None:
    return None if value >= 0 else "must be 0 or greater"


def port_number(value: int) -> str | None:
    return None if 0 <= value <= 65535 else "must be a port number between 0 and 65535"


def one_of(*choices: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value in choices else f"must be one of {', '.join(choices)}"
    return check


def _convert(name: str, raw: str, kind: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(kind) if a is not type(None)]
        if raw == "":
            return None
        return _convert(name, raw, inner[0])
    if origin is tuple:
        (item,) = {a for a in typing.get_args(kind) if a is not Ellipsis}
        return tuple(_convert(name, part.strip(), item)
                     for part in raw.split(",") if part.strip())
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise SettingsError(f"{name}: expected true or false, got {raw!r}")
    if kind is int:
        try:
            return int(raw.strip())
        except ValueError:
            raise SettingsError(f"{name}: expected an integer, got {raw!r}") from None
    if kind is float:
        try:
            return float(raw.strip())
        except ValueError:
            raise SettingsError(f"{name}: expected a number, got {raw!r}") from None
    if kind is Path:
        return Path(raw)
    if kind is str:
        return raw
    raise TypeError(f"settings field type {kind!r} is not supported")


def load_settings(cls: type[T], environ: Mapping[str, str] | None = None,
                  prefix: str = "") -> T:
    """Build `cls` from the environment, or raise SettingsError naming the variable."""
    environ = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if "group" in field.metadata:
            values[field.name] = load_settings(field.metadata["group"], environ,
                                               prefix + field.metadata["prefix"])
            continue
        name = field.metadata.get("env")
        if name is None:
            continue
        name = prefix + name
        if name in environ:
            value = _convert(name, environ[name], hints[field.name])
        elif field.default is not dataclasses.MISSING:
            value = field.default
        else:
            raise SettingsError(f"{name}: required but not set ({field.metadata['help']})")
        check = field.metadata.get("check")
        if check is not None and value is not None:
            problem = check(value)
            if problem:
                raise SettingsError(f"{name}: {problem}, got {environ.get(name, value)!r}")
        values[field.name] = value
    return cls(**values)


def describe(settings: Any) -> dict[str, Any]:
    """Settings as a dict for the start-up log, secrets redacted."""
    out: dict[str, Any] = {}
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        if "group" in field.metadata:
            for key, inner in describe(value).items():
                out[field.metadata["prefix"] + key] = inner
            continue
        if field.metadata.get("secret") and value:
            value = "***"
        elif isinstance(value, Path):
            value = str(value)
        out[field.metadata.get("env", field.name)] = value
    return out
