"""Write the table of each stage's own run options into docs/coordinator.md.

The stage declarations (`options` in services/coordinator/stages/<key>.py)
are the single source of every option's name, type, default, bounds,
meaning and deprecated RunConfig alias; this renders them between two
marker lines of the page, and `--check` (run by the tests) fails when the
committed table is stale.
"""

from __future__ import annotations

import sys
from pathlib import Path

from services.common.generated_doc import write_or_check
from services.coordinator.stages import PIPELINE

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "docs" / "coordinator.md"
BEGIN = "<!-- stage options: written by python -m services.coordinator.options_doc -->"
END = "<!-- end of stage options -->"


def _default(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return f"`{value!r}`" if isinstance(value, str) else f"`{value:g}`"


def options_table() -> str:
    """One row per option of every stage, in pipeline order."""
    rows = ["| stage | option | takes | default | meaning | deprecated alias |", "|---|---|---|---|---|---|"]
    for stage in PIPELINE:
        for option in stage.options:
            legacy = ", ".join(f"`{path}`" for path in option.legacy)
            rows.append(f"| `{stage.key}` | `{option.name}` | {option.accepts()} | {_default(option.default)} "
                        f"| {option.description} | {legacy} |")
    return "\n".join(rows)


def render(page: str) -> str:
    """`page` with the table between the markers replaced by the current one."""
    head, begin, rest = page.partition(BEGIN)
    _, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"{TARGET.name} lacks the marker lines {BEGIN!r} and {END!r}")
    return f"{head}{BEGIN}\n{options_table()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    return write_or_check(TARGET, lambda: render(TARGET.read_text()),
                          "docs/coordinator.md's stage options are",
                          "python -m services.coordinator.options_doc", argv, __doc__)


if __name__ == "__main__":
    sys.exit(main())
