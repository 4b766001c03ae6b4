"""A training attempt as a JobSet (`jobset.x-k8s.io/v1alpha2`), for clusters that run it.

One replicated Job `node` (Indexed, one pod per node, the same pods as the plain Job).
JobSet restarts the whole gang itself on a failure (`failurePolicy.maxRestarts`) and
creates its own headless Service named after the JobSet (`network.enableDNSHostnames`),
so rank 0 is `<name>-node-0-0.<name>`. A drained node's pod is replaced without counting
(the Job's podFailurePolicy, as in the plain Job).
"""

from __future__ import annotations

from typing import Any

from mis.v1 import coordinator_pb2
from services.coordinator.training import manifests
from services.coordinator.training.placement import Placement

GROUP = "jobset.x-k8s.io"
VERSION = "v1alpha2"
REPLICATED_JOB = "node"


def build_jobset(name: str, namespace: str, request_id: str, spec: coordinator_pb2.TrainingSpec,
                 placement: Placement, attempt: int = 0) -> list[dict[str, Any]]:
    """[JobSet] for this request: the plain Job's metadata and pods under JobSet's restarts."""
    # JobSet names the replicated Job `<name>-node-0`, its pods' hostnames follow from it.
    metadata, job_spec = manifests.job_parts(name, namespace, request_id, spec, placement,
                                             job_name=f"{name}-{REPLICATED_JOB}-0", service_name=name)
    jobset_spec: dict[str, Any] = {
        "failurePolicy": {"maxRestarts": placement.max_restarts},
        "network": {"enableDNSHostnames": True, "subdomain": name, "publishNotReadyAddresses": True},
        "replicatedJobs": [{"name": REPLICATED_JOB, "replicas": 1, "template": {"spec": job_spec}}],
    }
    if placement.ttl_seconds_after_finished is not None:
        jobset_spec["ttlSecondsAfterFinished"] = placement.ttl_seconds_after_finished
    return [{"apiVersion": f"{GROUP}/{VERSION}", "kind": "JobSet", "metadata": metadata, "spec": jobset_spec}]


def _conditions(obj: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("status") == "True"}


def outcome(obj: dict[str, Any]) -> tuple[bool, str] | None:
    conditions = _conditions(obj)
    if "Completed" in conditions:
        return True, ""
    if "Failed" in conditions:
        found = conditions["Failed"]
        restarts = (obj.get("status") or {}).get("restarts") or 0
        reason = ": ".join(p for p in (found.get("reason"), found.get("message")) if p) or "the JobSet failed"
        return False, reason + (f" (after {restarts} gang restarts)" if restarts else "")
    return None


def running(obj: dict[str, Any]) -> bool:
    jobs = (obj.get("status") or {}).get("replicatedJobsStatus") or []
    return any((j.get("ready") or 0) > 0 or (j.get("active") or 0) > 0 for j in jobs)
