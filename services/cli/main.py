"""The `mis` command: one entry point, subcommands from the modules below."""

from __future__ import annotations

import argparse
import importlib
import sys

from services.cli.stackfile import point_at_running_stack

# Each module has `register(subparsers)`; adding a command is one line here.
COMMAND_MODULES = [
    "services.cli.serve",
    "services.cli.stack",
    "services.cli.runs",
    "services.cli.datasets",
    "services.cli.demo",
    "services.cli.evaluate",
    "services.cli.train",
    "services.cli.index",
    "services.cli.review",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mis", description="The MIS platform")
    commands = parser.add_subparsers(dest="command", required=True)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    point_at_running_stack(args)  # a running `mis stack up` is found without flags
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
