"""`mis runs ...`: create, watch, list, get, cancel and retry-failed pipeline
runs on a coordinator (MIS_COORDINATOR_ADDRESS or --coordinator)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import grpc

from services.cli.pace import Pace, duration
from services.common.interceptors import REQUEST_ID_KEY
from services.coordinator.client import (CoordinatorClient, default_address, default_ca_file,
                                         default_client_pair, default_token_file, option_lines,
                                         progress_lines, state_name)
from services.coordinator.runconfig import RunConfigError, load_run_config

FINISHED = {"succeeded", "failed", "cancelled"}


def pace_line(run, samples_per_second: float | None) -> str:
    """The samples per second seen while watching, and the time left at that pace
    (the total grows while seeds are still being extracted)."""
    if not samples_per_second:
        return "  pace: measuring"
    left = max(run.progress.samples_total - run.progress.samples_finished, 0) / samples_per_second
    return f"  pace: {samples_per_second:.2f} samples/s, ETA {duration(left)}"


def watch_run(client: CoordinatorClient, run_id: str, out=None, interval: float = 1.0):
    """Draw live progress bars until the run ends; return the last snapshot."""
    out = out or sys.stdout  # looked up now: tests and callers may have replaced it
    tty = out.isatty()
    drawn = 0
    last_print = 0.0
    run = None
    pace = Pace()
    for run in client.watch(run_id):
        now = time.monotonic()
        done = state_name(run.state) in FINISHED
        lines = progress_lines(run)
        rate = pace.observe(now, run.progress.samples_finished)
        if not done:
            lines.append(pace_line(run, rate))
        if tty:
            if drawn:
                out.write(f"\x1b[{drawn}F\x1b[J")
            out.write("\n".join(lines) + "\n")
            drawn = len(lines)
        elif done or now - last_print >= interval * 5:
            out.write("\n".join(lines) + "\n")
            last_print = now
        out.flush()
    return run


def coordinator_client(args: argparse.Namespace) -> CoordinatorClient:
    """A client of the coordinator the options name, with their token and CA."""
    return CoordinatorClient(args.coordinator, token_file=getattr(args, "coordinator_token_file", None),
                             ca_file=getattr(args, "coordinator_ca", None),
                             cert_file=getattr(args, "coordinator_cert", None),
                             key_file=getattr(args, "coordinator_key", None))



def create(args: argparse.Namespace) -> int:
    try:
        config = load_run_config(args.config)
    except RunConfigError as exc:
        print(f"bad run config {args.config}: {exc}", file=sys.stderr)
        return 2
    with coordinator_client(args) as client:
        run = client.create(config, args.run_id)
        print(f"run {run.id} {state_name(run.state)}")
        if args.watch:
            run = watch_run(client, run.id)
            return 0 if state_name(run.state) == "succeeded" else 1
    return 0


def watch(args: argparse.Namespace) -> int:
    with coordinator_client(args) as client:
        run = watch_run(client, args.run_id)
    return 0 if run is not None and state_name(run.state) == "succeeded" else 1


def list_runs(args: argparse.Namespace) -> int:
    with coordinator_client(args) as client:
        runs = client.list()
    print(f"{'run':<28} {'state':<10} {'samples':>8}  message")
    for run in runs:
        print(f"{run.id:<28} {state_name(run.state):<10} {run.progress.samples_finished:>8}  {run.message}")
    return 0


def get(args: argparse.Namespace) -> int:
    with coordinator_client(args) as client:
        run = client.get(args.run_id)
        print("\n".join(progress_lines(run) + option_lines(run)))
    return 0


def cancel(args: argparse.Namespace) -> int:
    with coordinator_client(args) as client:
        run = client.cancel(args.run_id)
    print(f"run {run.id} {state_name(run.state)}")
    return 0


def retry_failed(args: argparse.Namespace) -> int:
    with coordinator_client(args) as client:
        count = client.retry_failed(args.run_id)
        print(f"run {args.run_id}: {count} failed items put back into the pipeline")
        if args.watch and count:
            watch_run(client, args.run_id)
    return 0


def answered_by_server(exc: grpc.RpcError) -> bool:
    """Whether a server sent this status (every MIS server returns a request
    id), as opposed to the channel never reaching one."""
    return any(key == REQUEST_ID_KEY for key, _ in exc.trailing_metadata() or ())


def handle_rpc_errors(handler):
    """Print a gRPC error as one readable line and exit non-zero."""
    def run(args: argparse.Namespace) -> int:
        try:
            return handler(args)
        except grpc.RpcError as exc:
            print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)
            # A coordinator that answers UNAVAILABLE (a stage it needs is down) says why itself.
            if exc.code() == grpc.StatusCode.UNAVAILABLE and not answered_by_server(exc):
                print(f"no coordinator answers at {getattr(args, 'coordinator', '?')}: start one "
                      f"with `mis stack up` "
                      f"in this folder (found without flags), or give --coordinator / "
                      f"MIS_COORDINATOR_ADDRESS", file=sys.stderr)
            return 1
    return run


def add_coordinator_option(parser: argparse.ArgumentParser) -> None:
    """--coordinator, and the bearer token and CA a secured coordinator asks for."""
    parser.add_argument("--coordinator", default=default_address(),
                        help="coordinator host:port (default MIS_COORDINATOR_ADDRESS or %(default)s)")
    parser.add_argument("--coordinator-token-file", type=Path, default=default_token_file(),
                        help="file holding the bearer token (default MIS_COORDINATOR_TOKEN_FILE)")
    parser.add_argument("--coordinator-ca", type=Path, default=default_ca_file(),
                        help="CA bundle of the coordinator's certificate; enables TLS "
                             "(default MIS_COORDINATOR_CA_FILE)")
    cert, key = default_client_pair()
    parser.add_argument("--coordinator-cert", type=Path, default=cert,
                        help="client certificate for mutual TLS (default MIS_COORDINATOR_CERT_FILE)")
    parser.add_argument("--coordinator-key", type=Path, default=key,
                        help="its private key (default MIS_COORDINATOR_KEY_FILE)")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("runs", help="pipeline runs on the coordinator")
    actions = parser.add_subparsers(dest="action", required=True)
    spec = [
        ("create", create, "create a run from a YAML run config", [("config", {}),
                                                                   ("--run-id", {"default": ""}),
                                                                   ("--watch", {"action": "store_true"})]),
        ("watch", watch, "live progress bars until the run ends", [("run_id", {})]),
        ("list", list_runs, "every run", []),
        ("get", get, "one run's progress", [("run_id", {})]),
        ("cancel", cancel, "cancel a run", [("run_id", {})]),
        ("retry-failed", retry_failed, "put a run's failed samples back into the pipeline",
         [("run_id", {}), ("--watch", {"action": "store_true"})]),
    ]
    for name, handler, text, arguments in spec:
        action = actions.add_parser(name, help=text)
        for flag, options in arguments:
            action.add_argument(flag, **options)
        add_coordinator_option(action)
        action.set_defaults(handler=handle_rpc_errors(handler))
