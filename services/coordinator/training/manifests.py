"""The Kubernetes objects of one training attempt, as plain dicts.

An attempt is an Indexed `batch/v1` Job with one pod per node and a headless Service of
the same name. Pod i gets the hostname `<job>-i` under the Service's subdomain, so every
node reaches node 0 at `<job>-0.<job>` for torchrun's rendezvous, and its node rank is
the completion index. Attempt 0's Job carries the run's name; a gang restart creates
attempt n as `<name>-r<n>` with the same labels, spec and output, so it resumes from the
last checkpoint. The Service is owned by its Job: deleting the Job removes both.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from mis.v1 import coordinator_pb2
from services.coordinator.training.placement import Placement
from services.coordinator.training.pod import pod_spec
from services.coordinator.training.spec import attempt_name, resolve_spec, spec_fingerprint

MANAGED_BY = "mis-coordinator"
LABEL_TRAINING = "mis.dev/training"
LABEL_JOB = "mis.dev/job"
LABEL_ATTEMPT = "mis.dev/attempt"
ANNOTATION_REQUEST = "mis.dev/request-id"
ANNOTATION_SPEC = "mis.dev/spec"
ANNOTATION_SPEC_HASH = "mis.dev/spec-sha256"
ANNOTATION_OUTPUT = "mis.dev/output-uri"
ANNOTATION_CANCELLED = "mis.dev/cancelled"
ANNOTATION_CANCELLED_AT = "mis.dev/cancelled-at"
SELECTOR = f"app.kubernetes.io/managed-by={MANAGED_BY},app.kubernetes.io/component=training"
# Kueue admits a Job into the LocalQueue this label names (and suspends it until then).
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
# A drained or preempted node is not the run's fault: the pod is replaced without
# counting against the backoff limit (Kubernetes sets DisruptionTarget on such pods).
POD_FAILURE_POLICY = {"rules": [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]}


def _labels(name: str, job: str, attempt: int) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "mis-trainer",
        "app.kubernetes.io/component": "training",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        LABEL_TRAINING: name,
        LABEL_JOB: job,
        LABEL_ATTEMPT: str(attempt),
    }


def job_parts(name: str, namespace: str, request_id: str, spec: coordinator_pb2.TrainingSpec,
              placement: Placement, job_name: str, service_name: str,
              attempt: int = 0) -> tuple[dict[str, Any], dict[str, Any]]:
    """(metadata, Indexed Job spec) of the Job `job_name` whose pods live under the headless
    Service `service_name`; shared by the plain Job and the JobSet's replicated Job."""
    resolved = resolve_spec(name, spec, placement)
    spec_json, spec_hash = spec_fingerprint(spec)
    labels = _labels(name, attempt_name(name, attempt), attempt)
    job_labels = dict(labels)
    if placement.queue_name:
        job_labels[KUEUE_QUEUE_LABEL] = placement.queue_name
    job_spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": resolved.nodes,
        "parallelism": resolved.nodes,
        # A lost rank breaks the collective for all: end the attempt, and restart the
        # whole gang from its last checkpoint.
        "backoffLimit": 0,
        "podFailurePolicy": POD_FAILURE_POLICY,
        "template": {"metadata": {"labels": dict(labels)},
                     "spec": pod_spec(job_name, service_name, resolved, placement)},
    }
    metadata = {
        "name": attempt_name(name, attempt), "namespace": namespace, "labels": job_labels,
        "annotations": {ANNOTATION_REQUEST: request_id, ANNOTATION_SPEC: spec_json,
                        ANNOTATION_SPEC_HASH: spec_hash, ANNOTATION_OUTPUT: resolved.output_uri},
    }
    return metadata, job_spec


def build_manifests(name: str, namespace: str, request_id: str, spec: coordinator_pb2.TrainingSpec,
                    placement: Placement, owner_uid: str | None = None,
                    attempt: int = 0) -> list[dict[str, Any]]:
    """[headless Service, Job] of `attempt` of the run `name`. `owner_uid`: the Job's uid,
    making the Service its dependent so deleting the Job removes both."""
    job_name = attempt_name(name, attempt)
    metadata, job_spec = job_parts(name, namespace, request_id, spec, placement, job_name, job_name, attempt)
    if placement.ttl_seconds_after_finished is not None:
        job_spec["ttlSecondsAfterFinished"] = placement.ttl_seconds_after_finished
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": metadata, "spec": job_spec}
    labels = dict(job_spec["template"]["metadata"]["labels"])
    service_meta: dict[str, Any] = {"name": job_name, "namespace": namespace, "labels": labels}
    if owner_uid:
        service_meta["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": job_name,
                                            "uid": owner_uid, "blockOwnerDeletion": True}]
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": service_meta,
        "spec": {
            "clusterIP": "None",
            "selector": {LABEL_JOB: job_name},
            # Rendezvous happens before any pod is Ready; DNS must answer for them already.
            "publishNotReadyAddresses": True,
            "ports": [{"name": "rendezvous", "port": placement.rendezvous_port,
                       "targetPort": placement.rendezvous_port, "protocol": "TCP"}],
        },
    }
    return [service, job]


def spec_from_annotation(job: dict[str, Any]) -> coordinator_pb2.TrainingSpec:
    spec = coordinator_pb2.TrainingSpec()
    text = job.get("metadata", {}).get("annotations", {}).get(ANNOTATION_SPEC)
    if text:
        json_format.Parse(text, spec)
    return spec
