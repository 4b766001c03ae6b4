"""The command line of a generated documentation page: write it, or with
`--check` fail when the page in the tree is not what the code generates (the
tests run the check, so a page cannot drift from what it documents)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[2]


def write_or_check(target: Path, generate: Callable[[], str], what: str, command: str,
                   argv: list[str] | None = None, description: str | None = None) -> int:
    """`generate()` written to `target`, or compared with it under `--check`;
    `what` names the stale part and `command` how to regenerate it."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = generate()
    if args.check:
        if not target.exists() or target.read_text() != text:
            print(f"{what} stale: run {command}", file=sys.stderr)
            return 1
        return 0
    target.write_text(text)
    print(f"wrote {target.relative_to(ROOT)}")
    return 0
