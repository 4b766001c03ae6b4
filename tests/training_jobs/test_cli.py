"""`mis train` against a real coordinator gRPC server on loopback, with the emulated
cluster behind it (the coordinator reaches it through a kubeconfig, as in production).

The CLI is synchronous, so each command runs in a thread while kmock and the coordinator
serve on the test's event loop. `logs` reads the Kubernetes API itself, through the same
kubeconfig.
"""

from __future__ import annotations

import asyncio
import io
import os
import threading
from unittest.mock import patch

import pytest
import yaml

from services.cli.main import main
from services.cli.pace import Pace
from services.cli.train import progress_line, watch_training
from services.common.metrics import Metrics
from services.common.grpc_server import start_server
from services.common.settings import load_settings
from services.coordinator.client import CoordinatorClient
from services.coordinator.config import Settings
from services.coordinator.server import build
from tests.training_jobs.cluster import JOBS
from trainer.store import Store
from mis.v1 import coordinator_pb2 as pb

DATASET = "s3://mis/exports/train-v1"


@pytest.fixture
def kubeconfig(cluster, tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "kmock", "cluster": {"server": str(cluster.kmock.url).rstrip("/")}}],
        "users": [{"name": "tester", "user": {"token": "t"}}],
        "contexts": [{"name": "test", "context": {"cluster": "kmock", "user": "tester"}}]}))
    return path


@pytest.fixture
async def coordinator(kubeconfig, store_env, store):
    env = {**store_env, "MIS_KUBECONFIG": str(kubeconfig), "MIS_K8S_NAMESPACE": "mis", "MIS_HOST": "127.0.0.1",
           "MIS_PORT": "0", "MIS_RESUME": "false", "MIS_TRAINER_IMAGE": "registry.example/mis-trainer:1"}
    settings = load_settings(Settings, env)
    wiring = await build(settings, Metrics())
    running = await start_server(wiring.bindings, settings.server)
    yield f"127.0.0.1:{running.port}"
    await running.server.stop(0)
    for close in wiring.closers:
        await close()


async def mis(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Runs `mis ...` in a thread; returns (exit code, stdout, stderr)."""
    def run() -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with patch("sys.stdout", out), patch("sys.stderr", err), patch.dict(os.environ, env or {}):
            code = main(list(argv))
        return code, out.getvalue(), err.getvalue()
    return await asyncio.wait_for(asyncio.to_thread(run), timeout=60)


async def test_launch_list_cancel_through_the_coordinator(cluster, coordinator):
    code, out, err = await mis("train", "launch", "--preset", "qwen2_vl_7b", "--dataset", DATASET,
                               "--request-id", "cli-1", "--nodes", "2", "--set", "epochs=1",
                               "--coordinator", coordinator)
    assert code == 0, err
    name = cluster.names(JOBS)[0]
    assert out.startswith(f"training {name} pending (request id cli-1")
    job = cluster.job(name)
    assert job["spec"]["completions"] == 2
    assert "epochs=1" in job["spec"]["template"]["spec"]["containers"][0]["args"]

    code, out, _ = await mis("train", "list", "--coordinator", coordinator)
    assert code == 0 and name in out and "qwen2_vl_7b" in out and "pending" in out

    code, out, _ = await mis("train", "cancel", name, "--coordinator", coordinator)
    assert (code, out.strip()) == (0, f"training {name} cancelled")
    assert cluster.job(name)["spec"]["suspend"] is True


async def test_refusals_are_one_readable_line(cluster, coordinator):
    await mis("train", "launch", "--preset", "qwen2_vl_7b", "--dataset", DATASET, "--request-id", "cli-2",
              "--coordinator", coordinator)
    code, _, err = await mis("train", "launch", "--preset", "qwen2_vl_7b", "--dataset", DATASET + "-other",
                             "--request-id", "cli-2", "--coordinator", coordinator)
    assert code == 1 and err.startswith("error: ALREADY_EXISTS: request_id 'cli-2' was already used")
    code, _, err = await mis("train", "launch", "--preset", "no_such_preset", "--dataset", DATASET,
                             "--coordinator", coordinator)
    assert code == 1 and err.startswith("error: INVALID_ARGUMENT: spec.preset: unknown preset")
    code, _, err = await mis("train", "cancel", "mirage-nope", "--coordinator", coordinator)
    assert code == 1 and "NOT_FOUND" in err


async def test_without_a_cluster_the_commands_say_so(store_env, store):
    env = {**store_env, "MIS_HOST": "127.0.0.1", "MIS_PORT": "0", "MIS_RESUME": "false"}
    with patch.dict(os.environ, {"KUBERNETES_SERVICE_HOST": ""}):
        settings = load_settings(Settings, env)
        wiring = await build(settings, Metrics())
    running = await start_server(wiring.bindings, settings.server)
    try:
        code, _, err = await mis("train", "list", "--coordinator", f"127.0.0.1:{running.port}")
        assert code == 1
        assert err.strip() == ("error: FAILED_PRECONDITION: training is unavailable: no Kubernetes configuration: "
                               "set MIS_KUBECONFIG or run the coordinator in a cluster with a service account")
    finally:
        await running.server.stop(0)
    code, _, err = await mis("train", "logs", "mirage-x", env={"MIS_KUBECONFIG": "/nonexistent/kubeconfig"})
    assert code == 1 and err.strip() == ("error: cannot read training logs: "
                                         "MIS_KUBECONFIG=/nonexistent/kubeconfig does not exist")


async def test_logs_of_rank_zero_and_of_a_chosen_rank(cluster, coordinator, kubeconfig):
    await mis("train", "launch", "--preset", "qwen2_vl_7b", "--dataset", DATASET, "--request-id", "cli-logs",
              "--nodes", "2", "--coordinator", coordinator)
    name = cluster.names(JOBS)[0]
    env = {"MIS_KUBECONFIG": str(kubeconfig), "MIS_K8S_NAMESPACE": "mis"}
    code, _, err = await mis("train", "logs", name, env=env)
    assert code == 1 and err.strip() == f"error: job {name} has no pod of rank 0 (not scheduled yet, or already removed)"
    cluster.add_pod(name, 0, log="step 10 loss 1.93\n")
    cluster.add_pod(name, 1, log="rank 1 ready\n")
    assert await mis("train", "logs", name, env=env) == (0, "step 10 loss 1.93\n", "")
    assert await mis("train", "logs", name, "--rank", "1", env=env) == (0, "rank 1 ready\n", "")


class Lines(io.StringIO):
    """What `watch` printed so far, with an event per line (the test's signal)."""

    def __init__(self) -> None:
        super().__init__()
        self.printed = threading.Event()

    def write(self, text: str) -> int:
        written = super().write(text)
        self.printed.set()
        return written


async def _printed(lines: Lines, needle: str) -> None:
    while needle not in lines.getvalue():
        lines.printed.clear()
        await asyncio.to_thread(lines.printed.wait, 5)


async def test_watch_shows_steps_loss_and_eta_until_the_run_ends(cluster, coordinator, store_env):
    await mis("train", "launch", "--preset", "qwen2_vl_7b", "--dataset", DATASET, "--request-id", "cli-watch",
              "--coordinator", coordinator)
    name = cluster.names(JOBS)[0]
    output = cluster.job(name)["metadata"]["annotations"]["mis.dev/output-uri"]
    lines = Lines()
    with CoordinatorClient(coordinator) as client:
        watching = asyncio.create_task(asyncio.to_thread(watch_training, client, name, lines, 0.02))
        await asyncio.wait_for(_printed(lines, f"{name}  pending"), 30)
        cluster.set_status(name, active=1, ready=1)
        with patch.dict(os.environ, store_env):
            Store().write_json(f"{output}/progress.json", {"step": 100, "total_steps": 400, "loss": 1.5})
            await asyncio.wait_for(_printed(lines, "100/400"), 30)
            Store().write_json(f"{output}/progress.json", {"step": 200, "total_steps": 400, "loss": 1.25,
                                                           "tokens": 819200, "tokens_per_second": 12345.6})
            await asyncio.wait_for(_printed(lines, "200/400"), 30)
        cluster.set_status(name, active=0, ready=0, succeeded=1, conditions=[{"type": "Complete", "status": "True"}])
        final = await asyncio.wait_for(watching, 30)
    assert final.state == pb.TRAINING_STATE_SUCCEEDED
    printed = lines.getvalue().splitlines()
    running = next(line for line in printed if "200/400" in line and "running" in line)
    assert "loss 1.2500" in running and "12,346 tokens/s" in running and "steps/s" in running
    assert "ETA " in running
    assert printed[-1].startswith(f"{name}  succeeded  [############............] 200/400  loss 1.2500")


def test_the_progress_line_and_its_eta():
    training = pb.Training(name="mirage-x", state=pb.TRAINING_STATE_RUNNING, step=300, total_steps=1200, loss=0.5)
    assert progress_line(training, 2.0, width=8) == (
        "mirage-x  running  [##......] 300/1200  loss 0.5000  2.00 steps/s  ETA 0:07:30")
    training.tokens_per_second = 4096.0
    assert progress_line(training, 2.0, width=8) == (
        "mirage-x  running  [##......] 300/1200  loss 0.5000  4,096 tokens/s  2.00 steps/s  ETA 0:07:30")
    pace = Pace()
    assert pace.observe(0.0, 100) is None
    assert pace.observe(10.0, 150) == 5.0
    assert pace.observe(20.0, 40) is None  # resumed from an earlier checkpoint: start over
