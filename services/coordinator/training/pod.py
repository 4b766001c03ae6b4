"""The pod every rank of a training run runs: an init step, the trainer, its resources.

One pod per node. The init step waits until rank 0's name resolves (the headless Service
publishes it as soon as the pod has an address), so torchrun does not time out on a
rendezvous host that DNS does not know yet. The trainer container runs torchrun with the
NCCL settings, requests and shared memory from the placement.
"""

from __future__ import annotations

from typing import Any

from services.coordinator.training.placement import Placement
from services.coordinator.training.spec import ResolvedSpec

SCRATCH = "/scratch"
COMPLETION_INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']"

# Run by the trainer image's Python: no extra image to pull, mirror or scan.
WAIT_FOR_RENDEZVOUS = """\
import socket, sys, time
host, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while True:
    try:
        socket.getaddrinfo(host, None)
        print(f"rendezvous host {host} resolves", flush=True)
        break
    except socket.gaierror as exc:
        if time.monotonic() >= deadline:
            sys.exit(f"rendezvous host {host} did not resolve within {sys.argv[2]} s: {exc}")
        time.sleep(2)
"""


def rendezvous_host(job: str, service: str) -> str:
    """Rank 0's stable name: `<job>-0` under the headless Service's subdomain."""
    return f"{job}-0.{service}"


def trainer_args(job: str, service: str, resolved: ResolvedSpec, placement: Placement) -> list[str]:
    if resolved.nodes == 1:
        # One node: torchrun may restart its crashed workers itself, from the last checkpoint.
        launcher = ["--standalone", f"--max-restarts={placement.torchrun_restarts}"]
    else:
        # Several nodes: the node rank is the completion index, so pod 0 holds global rank
        # 0 (the one that logs and reports progress). A static rendezvous cannot regroup,
        # so a failure ends the attempt and the coordinator restarts the whole gang.
        launcher = [f"--nnodes={resolved.nodes}", "--node-rank=$(NODE_RANK)",
                    f"--master-addr={rendezvous_host(job, service)}",
                    f"--master-port={placement.rendezvous_port}"]
    trainer = ["-m", "trainer.train", "--config", resolved.preset,
               f"dataset={resolved.dataset_uri}", f"output={resolved.output_uri}", f"work_dir={SCRATCH}"]
    return [*launcher, f"--nproc-per-node={resolved.gpus_per_node}", *trainer,
            *(f"{k}={v}" for k, v in resolved.overrides.items())]


def _resources(resolved: ResolvedSpec, placement: Placement) -> dict[str, Any]:
    gpus = str(resolved.gpus_per_node)  # quantities are strings
    requests = {placement.gpu_resource: gpus, **placement.extra_resources}
    limits = {placement.gpu_resource: gpus, **placement.extra_resources}
    if placement.cpu_request:
        requests["cpu"] = placement.cpu_request
    if placement.memory_request:
        requests["memory"] = limits["memory"] = placement.memory_request
    return {"requests": requests, "limits": limits}


def _env(job: str, placement: Placement) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = [
        {"name": "NODE_RANK", "valueFrom": {"fieldRef": {"fieldPath": COMPLETION_INDEX}}},
        {"name": "MIS_TRAINING_NAME", "value": job},
        {"name": "PYTHONUNBUFFERED", "value": "1"},
        # Hub downloads (a preset naming a Hub model) land on the scratch volume.
        {"name": "HF_HOME", "value": f"{SCRATCH}/huggingface"},
    ]
    return env + [{"name": key, "value": value} for key, value in sorted(placement.nccl_env.items())]


def pod_spec(job: str, service: str, resolved: ResolvedSpec, placement: Placement) -> dict[str, Any]:
    """The pod template's spec for every rank of the Job `job` behind `service`."""
    wait = {
        "name": "wait-for-rendezvous",
        "image": resolved.image,
        "imagePullPolicy": placement.image_pull_policy,
        "command": ["python", "-c", WAIT_FOR_RENDEZVOUS, rendezvous_host(job, service),
                    str(placement.rendezvous_timeout_seconds)],
        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
    }
    container: dict[str, Any] = {
        "name": "trainer",
        "image": resolved.image,
        "imagePullPolicy": placement.image_pull_policy,
        "command": ["torchrun"],
        "args": trainer_args(job, service, resolved, placement),
        "env": _env(job, placement),
        "envFrom": [{"secretRef": {"name": secret}} for secret in placement.secret_names],
        "resources": _resources(resolved, placement),
        "ports": [{"name": "rendezvous", "containerPort": placement.rendezvous_port, "protocol": "TCP"}],
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}, {"name": "scratch", "mountPath": SCRATCH}],
    }
    scratch: dict[str, Any] = {"sizeLimit": placement.scratch_size} if placement.scratch_size else {}
    spec: dict[str, Any] = {
        "subdomain": service,
        "restartPolicy": "Never",
        "initContainers": [wait],
        "containers": [container],
        "volumes": [
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": placement.shm_size}},
            {"name": "scratch", "emptyDir": scratch},
        ],
    }
    if resolved.node_selector:
        spec["nodeSelector"] = resolved.node_selector
    if resolved.tolerations:
        spec["tolerations"] = [
            {k: v for k, v in (("key", t.key), ("operator", t.operator), ("value", t.value), ("effect", t.effect))
             if v}
            for t in resolved.tolerations]
    if placement.service_account:
        spec["serviceAccountName"] = placement.service_account
    if placement.priority_class:
        spec["priorityClassName"] = placement.priority_class
    return spec
