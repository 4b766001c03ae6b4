"""`mis serve NAME`: run one service in this process."""

from __future__ import annotations

import argparse

from services.registry import SERVICES, entry_point


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("serve", help="run one service (configured by MIS_* variables)")
    parser.add_argument("name", choices=list(SERVICES))
    parser.set_defaults(handler=lambda args: entry_point(args.name)())
