"""A training run as a Kubeflow Trainer v2 TrainJob (`trainer.kubeflow.org/v1alpha1`).

The TrainJob names a ClusterTrainingRuntime (MIS_TRAINING_RUNTIME, `torch-distributed` by
default), which builds the JobSet, its headless Service and torchrun's rendezvous (the
`PET_*` variables torchrun reads), and restarts the gang. The coordinator gives the
trainer's image, command, nodes, processes, resources and environment, and patches the
runtime's pods with the node selector, tolerations, shared memory and scratch. The
runtime's container patch takes no `envFrom`, so the S3 variables come from the first
Secret key by key.
"""

from __future__ import annotations

from typing import Any

from mis.v1 import coordinator_pb2
from services.coordinator.training import manifests
from services.coordinator.training.placement import Placement
from services.coordinator.training.pod import pod_spec
from services.coordinator.training.spec import resolve_spec

GROUP = "trainer.kubeflow.org"
VERSION = "v1alpha1"
NODE = "node"  # the torch runtimes' replicated Job and trainer container
MANAGER = "mis.dev/coordinator"
S3_VARIABLES = ("MIS_S3_ENDPOINT", "MIS_S3_ACCESS_KEY", "MIS_S3_SECRET_KEY", "MIS_S3_SECURE")


def build_trainjob(name: str, namespace: str, request_id: str, spec: coordinator_pb2.TrainingSpec,
                   placement: Placement, attempt: int = 0) -> list[dict[str, Any]]:
    """[TrainJob] for this request."""
    resolved = resolve_spec(name, spec, placement)
    metadata, _ = manifests.job_parts(name, namespace, request_id, spec, placement, name, name)
    pods = pod_spec(f"{name}-{NODE}-0", name, resolved, placement)
    trainer = pods["containers"][0]
    env = [e for e in trainer["env"] if e["name"] != "NODE_RANK"]  # the runtime sets the ranks
    if placement.secret_names:
        env += [{"name": variable, "valueFrom": {"secretKeyRef": {
            "name": placement.secret_names[0], "key": variable, "optional": True}}} for variable in S3_VARIABLES]
    command = ["torchrun", *trainer["args"][trainer["args"].index("-m"):]]
    # A runtime patch may change containers the runtime declares but not add one, so the
    # wait for rank 0's name is left to the runtime (its JobSet publishes not-ready pods).
    pod_patch: dict[str, Any] = {
        "containers": [{"name": NODE, "volumeMounts": trainer["volumeMounts"]}],
        "volumes": pods["volumes"],
    }
    for key in ("nodeSelector", "tolerations", "serviceAccountName"):
        if key in pods:
            pod_patch[key] = pods[key]
    job_spec = {
        "runtimeRef": {"apiGroup": GROUP, "kind": "ClusterTrainingRuntime", "name": placement.training_runtime},
        "trainer": {"image": resolved.image, "command": command, "env": env, "numNodes": resolved.nodes,
                    "numProcPerNode": resolved.gpus_per_node, "resourcesPerNode": trainer["resources"]},
        "runtimePatches": [{"manager": MANAGER, "trainingRuntimeSpec": {"template": {"spec": {"replicatedJobs": [
            {"name": NODE, "template": {"spec": {"template": {"spec": pod_patch}}}}]}}}}],
    }
    return [{"apiVersion": f"{GROUP}/{VERSION}", "kind": "TrainJob", "metadata": metadata, "spec": job_spec}]


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("status") == "True"}


def outcome(obj: dict[str, Any]) -> tuple[bool, str] | None:
    conditions = _conditions(obj)
    if "Complete" in conditions:
        return True, ""
    if "Failed" in conditions:
        found = conditions["Failed"]
        return False, ": ".join(p for p in (found.get("reason"), found.get("message")) if p) or "the TrainJob failed"
    return None


def running(obj: dict[str, Any]) -> bool:
    jobs = (obj.get("status") or {}).get("jobsStatus") or []
    return any((j.get("ready") or 0) > 0 or (j.get("active") or 0) > 0 for j in jobs)


def pod_labels(name: str) -> dict[str, str]:
    """The runtime's JobSet carries the TrainJob's name; its trainer Job is `node`."""
    return {"jobset.sigs.k8s.io/jobset-name": name, "jobset.sigs.k8s.io/replicatedjob-name": NODE}

