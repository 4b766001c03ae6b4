"""Which distributed-training API runs a gang, behind one interface the launcher uses.

Three engines produce the same pods (pod.py) and the same labels: an Indexed `batch/v1`
Job with its headless Service (always available; the coordinator restarts a failed
gang), a JobSet (`jobset.x-k8s.io`: it restarts the gang itself, `failurePolicy
.maxRestarts`, and makes its own headless Service), or a Kubeflow Trainer v2 TrainJob
(`trainer.kubeflow.org`: a TrainingRuntime builds the JobSet). With MIS_TRAINING_ENGINE
=auto the cluster's API discovery decides: TrainJob if Trainer v2 is installed, then
JobSet, then the Job.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from kubernetes import client

from services.coordinator.training import jobset, manifests, trainjob

Outcome = Callable[[dict[str, Any]], "tuple[bool, str] | None"]


@dataclass(frozen=True)
class Engine:
    """How one kind of training object is built, read and named."""

    name: str
    group: str
    version: str
    plural: str
    build: Callable[..., list[dict[str, Any]]]  # (name, ns, request_id, spec, placement, attempt) -> objects
    outcome: Outcome  # (succeeded, reason) once finished, else None
    running: Callable[[dict[str, Any]], bool]
    # Whether the coordinator itself restarts a failed gang (the others restart their own).
    coordinator_restarts: bool
    # Labels that select the pods of one rank's workload, by the object's name.
    pod_labels: Callable[[str], dict[str, str]]
    # Whether the object has its own ttlSecondsAfterFinished (else the coordinator deletes it).
    expires_itself: bool = True


def _job_outcome(job: dict[str, Any]) -> tuple[bool, str] | None:
    from services.coordinator.training import status

    if status.succeeded(job):
        return True, ""
    reason = status.failure(job)
    return None if reason is None else (False, reason)


def _job_running(job: dict[str, Any]) -> bool:
    found = job.get("status") or {}
    ready = found.get("ready")
    # Pods that exist but wait for GPUs or an image pull are not running yet.
    return ready > 0 if ready is not None else (found.get("active") or 0) > 0


JOB = Engine("job", "batch", "v1", "jobs", manifests.build_manifests, _job_outcome, _job_running,
             coordinator_restarts=True, pod_labels=lambda name: {manifests.LABEL_JOB: name})
JOBSET = Engine("jobset", jobset.GROUP, jobset.VERSION, "jobsets", jobset.build_jobset, jobset.outcome,
                jobset.running, coordinator_restarts=False, pod_labels=lambda name: {manifests.LABEL_JOB: name})
TRAINJOB = Engine("trainjob", trainjob.GROUP, trainjob.VERSION, "trainjobs", trainjob.build_trainjob,
                  trainjob.outcome, trainjob.running, coordinator_restarts=False,
                  pod_labels=trainjob.pod_labels, expires_itself=False)
ENGINES = {engine.name: engine for engine in (JOB, JOBSET, TRAINJOB)}
# Most capable first: what `auto` picks when the cluster serves it.
PREFERENCE = (TRAINJOB, JOBSET, JOB)


def served_groups(api: client.ApiClient) -> dict[str, set[str]]:
    """API group -> versions the cluster serves (discovery, `/apis`)."""
    groups = client.ApisApi(api).get_api_versions().groups or []
    return {group.name: {v.version for v in group.versions or []} for group in groups}


def detect(api: client.ApiClient, wanted: str = "auto") -> Engine:
    """The engine named by `wanted`, or with `auto` the most capable one the cluster serves."""
    if wanted != "auto":
        return ENGINES[wanted]
    groups = served_groups(api)
    for engine in PREFERENCE:
        if engine is JOB or engine.version in groups.get(engine.group, set()):
            return engine
    return JOB
