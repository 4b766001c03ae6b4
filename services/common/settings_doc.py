"""Write docs/configuration.md from the services' settings classes.

The settings dataclasses are the single source of every variable's name,
default and meaning; this renders them, and `--check` (run by the tests)
fails when the committed page is stale.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
import typing
from pathlib import Path
from typing import Any, Iterator

from services.common.setting_groups import ModelEndpointSettings, ServerSettings, StoreSettings
from services.common.generated_doc import write_or_check
from services.registry import SERVICES

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "docs" / "configuration.md"


def variables(cls: type, prefix: str = "", skip: tuple[type, ...] = ()
              ) -> Iterator[tuple[str, str, str, str]]:
    """(variable, type, default, help) for every field, groups flattened."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if "group" in field.metadata:
            if field.metadata["group"] is ModelEndpointSettings and skip:
                yield (prefix + field.metadata["prefix"] + "*", "endpoint group", "",
                       "a model endpoint: see Model endpoints")
            elif field.metadata["group"] not in skip:
                yield from variables(field.metadata["group"], prefix + field.metadata["prefix"], skip)
            continue
        if "env" not in field.metadata:
            continue
        kind = getattr(hints[field.name], "__name__", str(hints[field.name]))
        kind = str(kind).replace("typing.", "").replace("pathlib.", "").replace(" | ", " or ")
        default: Any = field.default
        if default is dataclasses.MISSING:
            default = "(required)"
        elif field.metadata.get("secret") and default:
            default = "(set it)"
        elif default is None:
            default = "(unset)"
        elif isinstance(default, tuple):
            default = ",".join(map(str, default))
        text = field.metadata.get("help", "")
        if field.metadata.get("secret"):
            text = (text + " Secret: redacted in logs.").strip()
        shown = "(empty)" if default == "" else default if str(default).startswith("(") else f"`{default}`"
        yield prefix + field.metadata["env"], kind, shown, text


def render() -> str:
    lines = ["# Configuration", "",
             "Every service reads its settings from environment variables once at start and exits",
             "with a message naming the variable when one is missing or malformed. This page is",
             "generated from the settings classes (`services/<name>/config.py`) by",
             "`python -m services.common.settings_doc`; a test fails when it is stale.", ""]
    header = ["| variable | type | default | meaning |", "|---|---|---|---|"]

    def table(rows: Iterator[tuple[str, str, str, str]]) -> list[str]:
        return [f"| `{v}` | {k} | {d} | {t.replace('|', '/')} |" for v, k, d, t in rows] + [""]

    common = (ServerSettings, StoreSettings)
    lines += ["## Every service", "", "How it listens, and where the store is.", "", *header,
              *table(variables(ServerSettings)), *header, *table(variables(StoreSettings))]
    lines += ["## Model endpoints", "",
              "Each endpoint group is read under a prefix (`MIS_LLM_`, `MIS_VLM_`, `MIS_JUDGE_MODEL_`):",
              "", *header, *table(variables(ModelEndpointSettings, "<PREFIX>"))]
    for name, module in SERVICES.items():
        config = importlib.import_module(module.rsplit(".", 1)[0] + ".config")
        lines += [f"## {name}", "", *header, *table(variables(config.Settings, skip=common))]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return write_or_check(TARGET, render, "docs/configuration.md is",
                          "python -m services.common.settings_doc", argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
