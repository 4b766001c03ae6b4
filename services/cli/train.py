"""`mis train launch | list | watch | logs | cancel`: MIRage training runs on Kubernetes.

launch, list, watch and cancel go through the coordinator (MIS_COORDINATOR_ADDRESS or
--coordinator), which holds the cluster credentials. logs reads `pods/log` from the
Kubernetes API itself (MIS_KUBECONFIG, or in-cluster inside the coordinator's pod), since
streaming a pod's log is not a coordinator RPC.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from typing import TextIO

from mis.v1 import coordinator_pb2 as pb
from services.cli.pace import Pace, duration
from services.cli.runs import add_coordinator_option, coordinator_client, handle_rpc_errors
from services.coordinator.client import CoordinatorClient

FINISHED = {pb.TRAINING_STATE_SUCCEEDED, pb.TRAINING_STATE_FAILED, pb.TRAINING_STATE_CANCELLED}
CALL_SECONDS = 30.0


def state_name(state: int) -> str:
    return pb.TrainingState.Name(state).removeprefix("TRAINING_STATE_").lower()


def progress_line(training: pb.Training, steps_per_second: float | None, width: int = 24) -> str:
    """`name state [####....] step/total loss L T tokens/s R steps/s ETA h:mm:ss (reason)`;
    tokens/s is the trainer's own figure, steps/s and the ETA are measured from the polls."""
    parts = [training.name, state_name(training.state)]
    if training.total_steps:
        filled = min(width, int(width * training.step / training.total_steps))
        parts.append(f"[{'#' * filled}{'.' * (width - filled)}] {training.step}/{training.total_steps}")
    elif training.step:
        parts.append(f"step {training.step}")
    if training.loss:
        parts.append(f"loss {training.loss:.4f}")
    if training.tokens_per_second and training.state == pb.TRAINING_STATE_RUNNING:
        parts.append(f"{training.tokens_per_second:,.0f} tokens/s")
    if steps_per_second:
        parts.append(f"{steps_per_second:.2f} steps/s")
        if training.total_steps and training.state == pb.TRAINING_STATE_RUNNING:
            parts.append(f"ETA {duration((training.total_steps - training.step) / steps_per_second)}")
    if training.reason:
        parts.append(f"({training.reason})")
    return "  ".join(parts)


def watch_training(client: CoordinatorClient, name: str, out: TextIO | None = None,
                   interval: float = 5.0) -> pb.Training:
    """Polls GetTraining, drawing one progress line, until the run ends."""
    out = out or sys.stdout  # looked up now: tests and callers may have replaced it
    pace = Pace()
    tty = out.isatty()
    last = ""
    while True:
        training = client.stub.GetTraining(pb.GetTrainingRequest(name=name), timeout=CALL_SECONDS).training
        line = progress_line(training, pace.observe(time.monotonic(), training.step))
        if tty:
            out.write(f"\r\x1b[K{line}")
        elif line != last:
            out.write(line + "\n")
        last = line
        out.flush()
        if training.state in FINISHED:
            if tty:
                out.write("\n")
            return training
        time.sleep(interval)  # the RPC has no stream; poll at the trainer's reporting pace


def _overrides(items: list[str]) -> dict[str, str]:
    found = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set {item!r}: expected key=value")
        found[key] = value
    return found


def launch(args: argparse.Namespace) -> int:
    spec = pb.TrainingSpec(preset=args.preset, dataset_uri=args.dataset, nodes=args.nodes,
                           gpus_per_node=args.gpus_per_node, output_uri=args.output, image=args.image,
                           overrides=_overrides(args.set))
    request_id = args.request_id or f"{args.preset}-{uuid.uuid4().hex[:8]}"
    with coordinator_client(args) as client:
        training = client.stub.LaunchTraining(pb.LaunchTrainingRequest(request_id=request_id, spec=spec),
                                              timeout=CALL_SECONDS).training
        print(f"training {training.name} {state_name(training.state)} (request id {request_id}; "
              f"launching again with it returns this run)")
        if args.watch:
            training = watch_training(client, training.name, interval=args.interval)
            return 0 if training.state == pb.TRAINING_STATE_SUCCEEDED else 1
    return 0


def list_trainings(args: argparse.Namespace) -> int:
    with coordinator_client(args) as client:
        trainings = client.stub.ListTrainings(pb.ListTrainingsRequest(), timeout=CALL_SECONDS).trainings
    print(f"{'training':<52} {'state':<10} {'preset':<20} {'step':>12}")
    for training in trainings:
        steps = f"{training.step}/{training.total_steps}" if training.total_steps else str(training.step)
        print(f"{training.name:<52} {state_name(training.state):<10} {training.spec.preset:<20} {steps:>12}")
    return 0


def watch(args: argparse.Namespace) -> int:
    with coordinator_client(args) as client:
        training = watch_training(client, args.name, interval=args.interval)
    return 0 if training.state == pb.TRAINING_STATE_SUCCEEDED else 1


def cancel(args: argparse.Namespace) -> int:
    with coordinator_client(args) as client:
        training = client.stub.CancelTraining(pb.CancelTrainingRequest(name=args.name),
                                              timeout=CALL_SECONDS).training
    print(f"training {training.name} {state_name(training.state)}")
    return 0


def logs(args: argparse.Namespace) -> int:
    from services.common.setting_groups import StoreSettings
    from services.common.settings import SettingsError, load_settings
    from services.coordinator.config import TrainingSettings
    from services.coordinator.training import TrainingLauncher, TrainingNotFoundError
    from services.coordinator.training.cluster import kubernetes_client, placement_from
    from services.coordinator.training.logs import NoPodError

    try:
        settings = load_settings(TrainingSettings)
        api, reason = kubernetes_client(settings)
        if api is None:
            print(f"error: cannot read training logs: {reason}", file=sys.stderr)
            return 1
        launcher = TrainingLauncher(api, settings.namespace, placement_from(settings, StoreSettings()))
        for line in launcher.logs(args.name, rank=args.rank, follow=args.follow, tail_lines=args.tail):
            print(line, flush=True)
    except SettingsError as exc:
        print(f"error: bad configuration: {exc}", file=sys.stderr)
        return 2
    except (TrainingNotFoundError, NoPodError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("train", help="MIRage training runs on Kubernetes")
    actions = parser.add_subparsers(dest="action", required=True)
    start = actions.add_parser("launch", help="launch a run from a preset and a dataset")
    start.add_argument("--preset", required=True, help="trainer preset, e.g. qwen2_vl_7b")
    start.add_argument("--dataset", required=True, help="s3:// URI of an exported train split")
    start.add_argument("--request-id", default="", help="idempotency key (default: generated)")
    start.add_argument("--nodes", type=int, default=0)
    start.add_argument("--gpus-per-node", type=int, default=0)
    start.add_argument("--output", default="", help="s3:// URI for checkpoints and the model")
    start.add_argument("--image", default="")
    start.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="trainer override")
    start.add_argument("--watch", action="store_true")
    start.add_argument("--interval", type=float, default=5.0, help="seconds between progress polls")
    actions.add_parser("list", help="every run")
    follow = actions.add_parser("watch", help="progress until the run ends")
    follow.add_argument("name")
    follow.add_argument("--interval", type=float, default=5.0, help="seconds between progress polls")
    stop = actions.add_parser("cancel", help="cancel a run")
    stop.add_argument("name")
    for action, handler in (("launch", launch), ("list", list_trainings), ("watch", watch), ("cancel", cancel)):
        sub = actions.choices[action]
        add_coordinator_option(sub)
        sub.set_defaults(handler=handle_rpc_errors(handler))
    read = actions.add_parser("logs", help="the log of rank 0 or of --rank N (Kubernetes API)")
    read.add_argument("name")
    read.add_argument("--rank", type=int, default=0, help="node index (0 holds global rank 0)")
    read.add_argument("--follow", "-f", action="store_true")
    read.add_argument("--tail", type=int, default=None, help="only the last N lines")
    read.set_defaults(handler=logs)
