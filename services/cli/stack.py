"""`mis stack up`: the S3 server and every service on loopback."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path

from services.stack import LocalStack


def print_status(stack: LocalStack, status: dict[str, str]) -> None:
    print(f"S3 server      {stack.s3.endpoint}  (data in {stack.s3.data_dir})")
    for name, state in status.items():
        print(f"{name:<14} {stack.processes[name].address:<16} {state}")


def up(args: argparse.Namespace) -> int:
    stack = LocalStack(Path(args.workdir).resolve())
    print("starting the local stack ...")
    try:
        stack.start()
        status = stack.health()
        print_status(stack, status)
        healthy = all(state == "SERVING" for state in status.values())
        if args.check:
            return 0 if healthy else 1
        print("Ctrl-C stops the stack")
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        try:
            stopped.wait()
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        codes = stack.stop()
        clean = all(code == 0 for code in codes.values())
        print("stack stopped " + ("cleanly" if clean else f"with exit codes {codes}"))


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("stack", help="the local stack")
    actions = parser.add_subparsers(dest="action", required=True)
    start = actions.add_parser("up", help="start S3 and every service on loopback")
    start.add_argument("--workdir", default=".mis/stack", help="logs, ports and S3 data")
    start.add_argument("--check", action="store_true",
                       help="bring the stack up, report health, and shut it down")
    start.set_defaults(handler=up)
