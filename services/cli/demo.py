"""`mis demo` (what `make run` runs): the whole pipeline on this machine.

It starts the local stack (S3 and every service as processes), creates the
demo run through the coordinator's gRPC API, draws its progress, exports the
dataset to a local folder, writes the HTML browser beside it, evaluates the
offline dry-run candidate on the dataset's test splits with the stack's judge
(offline backend), prints where the dataset, browser and report are, and
stops the stack. The run id is derived from the config's
content, so running the demo again over the same stack data finds the
finished run and only exports it again.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import shutil
import sys
import time
from importlib import resources
from pathlib import Path

import grpc

from services.cli.runs import watch_run
from services.cli.stackfile import StackBusy, StackLock
from services.coordinator.browser import write_browser
from services.coordinator.client import CoordinatorClient, state_name
from services.coordinator.runconfig import RunConfigError, load_run_config
from services.evaluation.dataset import DatasetError
from services.evaluation.demo import evaluate_offline_candidate
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
    lock = StackLock(Path(args.workdir).resolve())
    try:
        lock.acquire()
    except StackBusy as exc:
        print(f"mis demo: {exc}", file=sys.stderr)
        return 2
    stack = LocalStack(lock.workdir)
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
        if manifest.per_split.get("real"):
            print(f"  real:    {out / 'mis_real.json'} and real_image/ ({manifest.per_split['real']} "
                  "samples whose photos the retriever found per object)")
        print(f"  browser: {browser}")
        return evaluate_demo(out, Path(args.eval_out).resolve(), stack.processes["judge"].address)
    except grpc.RpcError as exc:
        print(f"error: {exc.code().name}: {exc.details()}", file=sys.stderr)
        return 1
    finally:
        codes = stack.stop()
        lock.release()
        if any(codes.values()):
            print(f"stack stopped with exit codes {codes} (logs in {stack.workdir / 'logs'})")


def evaluate_demo(dataset: Path, out: Path, judge_address: str) -> int:
    """The offline candidate on the dataset's test splits; prints where the report is."""
    print("\nevaluating the offline dry-run candidate on the test splits "
          "(offline judge: a dry run, not a safety measurement) ...")
    try:
        report = asyncio.run(evaluate_offline_candidate(dataset, out, judge_address))
    except DatasetError as exc:
        print(f"evaluation: {exc}", file=sys.stderr)
        return 1
    overall = report["metrics"]["overall"]
    print(f"{report['model']}: ASR {overall['ASR']['value']:.1f}%, RR {overall['RR']['value']:.1f}% "
          f"over {overall['judged']} judged responses ({overall['errors']} errors)")
    print(f"  report:  {out / 'report.html'}")
    return 0 if overall["judged"] > 0 else 1


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("demo", help="run the demo pipeline end to end on the local stack")
    parser.add_argument("--config", default="", help="run config (default: the bundled demo.yaml)")
    parser.add_argument("--out", default="out/demo-dataset", help="where the dataset goes")
    parser.add_argument("--workdir", default=".mis/demo", help="stack logs, ports and S3 data")
    parser.add_argument("--eval-out", default="out/demo-eval",
                        help="where the offline candidate's evaluation report goes")
    parser.set_defaults(handler=demo)
