"""`mis stack up`: the S3 server and every service on loopback.

One stack per workdir: the workdir's lock (services.cli.stackfile) refuses a
second one. While it runs, `stack.json` in the workdir tells other `mis`
commands where the coordinator is, and the printed `export` line points
other shells at it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from services.cli.stackfile import StackBusy, StackLock, export_line, write_info
from services.stack import LocalStack


def print_status(stack: LocalStack, status: dict[str, str]) -> None:
    print(f"S3 server      {stack.s3.endpoint}  (data in {stack.s3.data_dir})")
    for name, state in status.items():
        print(f"{name:<14} {stack.processes[name].address:<16} {state}")


def stack_env(stack: LocalStack) -> dict[str, str]:
    """What another shell needs to use this stack (the S3 keys are the local server's own)."""
    env = {"MIS_S3_ENDPOINT": stack.s3.endpoint, "MIS_S3_ACCESS_KEY": stack.s3.access_key,
           "MIS_S3_SECRET_KEY": stack.s3.secret_key, "MIS_S3_BUCKET": "mis"}
    for name, variable in (("coordinator", "MIS_COORDINATOR_ADDRESS"), ("judge", "MIS_JUDGE_ADDRESS")):
        if name in stack.processes:
            env[variable] = stack.processes[name].address
    return env


def up(args: argparse.Namespace) -> int:
    workdir = Path(args.workdir).resolve()
    lock = StackLock(workdir)
    try:
        lock.acquire()
    except StackBusy as exc:
        print(f"mis stack up: {exc}", file=sys.stderr)
        return 2
    stack = LocalStack(workdir)
    print("starting the local stack ...")
    try:
        stack.start()
        status = stack.health()
        print_status(stack, status)
        healthy = all(state == "SERVING" for state in status.values())
        env = stack_env(stack)
        write_info(workdir, {**env, "workdir": str(workdir)})
        print("other shells reach this stack with:")
        print(f"  {export_line(env)}")
        if args.check:
            return 0 if healthy else 1
        print("mis commands started in this folder find it by themselves; Ctrl-C stops the stack",
              flush=True)
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        try:
            stopped.wait()
        except KeyboardInterrupt:
            pass
        return 0
    finally:
        codes = stack.stop()
        lock.release()
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
