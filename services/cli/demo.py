"""`mis demo` (what `make run` runs): the whole pipeline on this machine.

It starts the local stack (S3 and every service as processes), creates the
demo run through the coordinator's gRPC API, draws its progress, exports the
dataset to a local folder, writes the HTML browser beside it, prints where
both are, and stops the stack. The run id is derived from the config's
content, so running the demo again over the same stack data finds the
finished run and only exports it again.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import sys
import time
from importlib import resources
from pathlib import Path

import grpc

from services.cli.runs import watch_run
from services.coordinator.browser import write_browser
from services.coordinator.client import CoordinatorClient, state_name
from services.coordinator.runconfig import RunConfigError, load_run_config
from services.stack import LocalStack


def bundled_config() -> Path:
    return Path(str(resources.files("services.coordinator") / "configs" / "demo.yaml"))


def demo(args: argparse.Namespace) -> int:
    config_path = Path(args.config) if args.config else bundled_config()
    try:
        config = load_run_config(config_path)
    except RunConfigError as exc:
        print(f"bad run config {config_path}: {exc}", file=sys.stderr)
        return 2
    run_id = "demo-" + hashlib.sha256(config.SerializeToString(deterministic=True)).hexdigest()[:10]
    out = Path(args.out).resolve()
    if out.exists() and (out / "card.json").is_file():
        shutil.rmtree(out)  # a previous export of ours; never a folder we did not write
    elif out.exists() and any(out.iterdir()):
        print(f"{out} exists and is not a dataset export; choose another --out", file=sys.stderr)
        return 2
    stack = LocalStack(Path(args.workdir).resolve())
    started = time.monotonic()
    print("starting the local stack (S3 and every service) ...")
    try:
        stack.start()
        address = stack.processes["coordinator"].address
        with CoordinatorClient(address) as client:
            run = client.create(config, run_id)
            print(f"run {run.id} on the coordinator at {address}")
            run = watch_run(client, run.id)
            if run is None or state_name(run.state) != "succeeded":
                print(f"the run ended {state_name(run.state) if run else 'without news'}: "
                      f"{run.message if run else ''}", file=sys.stderr)
                return 1
            manifest = client.export(run.id, "", str(out))
        browser = write_browser(out)
        counts = ", ".join(f"{k} {v}" for k, v in sorted(manifest.per_split.items()))
        print(f"\ndataset {manifest.name} {manifest.version} ({counts}) "
              f"in {time.monotonic() - started:.0f}s")
        print(f"  folder:  {out}")
        print(f"  store:   {manifest.uri}")
        print(f"  card:    {out / 'README.md'}")
        print(f"  browser: {browser}")
        return 0
    except grpc.RpcError as exc:
        print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    finally:
        codes = stack.stop()
        if any(codes.values()):
            print(f"stack stopped with exit codes {codes} (logs in {stack.workdir / 'logs'})")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("demo", help="run the demo pipeline end to end on the local stack")
    parser.add_argument("--config", default="", help="run config (default: the bundled demo.yaml)")
    parser.add_argument("--out", default="out/demo-dataset", help="where the dataset goes")
    parser.add_argument("--workdir", default=".mis/demo", help="stack logs, ports and S3 data")
    parser.set_defaults(handler=demo)
