"""Launch, follow, list and cancel training Jobs through the Kubernetes API.

State comes from the Job (the source of truth for pending/running/finished) and step and
loss from the run's progress.json. Cancelling suspends the Job rather than deleting it:
Kubernetes removes its pods, while the Job stays readable as CANCELLED until its TTL.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any, Callable

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from mis.v1 import coordinator_pb2
from services.coordinator.training import manifests
from services.coordinator.training.errors import TrainingConflictError, TrainingNotFoundError
from services.coordinator.training.placement import Placement

log = logging.getLogger(__name__)

ProgressReader = Callable[[str], "dict[str, Any] | None"]
State = coordinator_pb2.TrainingState


class TrainingLauncher:
    def __init__(self, api: client.ApiClient, namespace: str, placement: Placement,
                 progress_reader: ProgressReader | None = None) -> None:
        self.api = api
        self.batch = client.BatchV1Api(api)
        self.core = client.CoreV1Api(api)
        self.namespace = namespace
        self.placement = placement
        self.progress_reader = progress_reader

    # ------------------------------------------------------------------ operations
    def manifests(self, request_id: str, spec: coordinator_pb2.TrainingSpec) -> list[dict[str, Any]]:
        """What `launch` would create, as plain dicts (for `--dry-run` and validation)."""
        name = manifests.training_name(request_id)
        return manifests.build_manifests(name, self.namespace, request_id, spec, self.placement)

    def launch(self, request_id: str, spec: coordinator_pb2.TrainingSpec) -> coordinator_pb2.Training:
        """Creates the Job and its Service; the same request again returns the existing Job."""
        name = manifests.training_name(request_id)
        service, job = manifests.build_manifests(name, self.namespace, request_id, spec, self.placement)
        existing = self._read(name)
        if existing is None:
            try:
                created = self.batch.create_namespaced_job(self.namespace, job)
                existing = self.api.sanitize_for_serialization(created)
                log.info("training job %s created for request %s", name, request_id)
            except ApiException as exc:
                if exc.status != 409:
                    raise
                existing = self._read(name)  # a concurrent launch of the same request won
                if existing is None:
                    raise
        wanted = job["metadata"]["annotations"][manifests.ANNOTATION_SPEC_HASH]
        found = existing.get("metadata", {}).get("annotations", {}).get(manifests.ANNOTATION_SPEC_HASH)
        if found != wanted:
            raise TrainingConflictError(f"request_id {request_id!r} was already used for a different "
                                        f"training spec (Job {name})")
        self._ensure_service(name, request_id, spec, existing)
        return self._to_training(existing)

    def get(self, name: str) -> coordinator_pb2.Training:
        job = self._read(name)
        if job is None:
            raise TrainingNotFoundError(f"training {name!r} not found in namespace {self.namespace!r}")
        return self._to_training(job)

    def list(self) -> list[coordinator_pb2.Training]:
        jobs = self.batch.list_namespaced_job(self.namespace, label_selector=manifests.SELECTOR)
        items = [self.api.sanitize_for_serialization(j) for j in jobs.items]
        ours = [j for j in items if _is_ours(j)]
        ours.sort(key=lambda j: (j["metadata"].get("creationTimestamp") or "", j["metadata"]["name"]))
        return [self._to_training(j) for j in ours]

    def cancel(self, name: str) -> coordinator_pb2.Training:
        job = self._read(name)
        if job is None:
            raise TrainingNotFoundError(f"training {name!r} not found in namespace {self.namespace!r}")
        if _finished_state(job) is not None:
            return self._to_training(job)  # nothing left to stop
        patched = self.batch.patch_namespaced_job(name, self.namespace, {
            "metadata": {"annotations": {manifests.ANNOTATION_CANCELLED: "true"}},
            "spec": {"suspend": True},
        })
        log.info("training job %s cancelled", name)
        return self._to_training(self.api.sanitize_for_serialization(patched))

    # ------------------------------------------------------------------ helpers
    def _read(self, name: str) -> dict[str, Any] | None:
        try:
            job = self.batch.read_namespaced_job(name, self.namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        job = self.api.sanitize_for_serialization(job)
        return job if _is_ours(job) else None

    def _ensure_service(self, name: str, request_id: str, spec: coordinator_pb2.TrainingSpec,
                        job: dict[str, Any]) -> None:
        """Creates the headless Service if missing (also after a launch that died half-way)."""
        uid = job.get("metadata", {}).get("uid")
        service, _ = manifests.build_manifests(name, self.namespace, request_id, spec, self.placement,
                                               owner_uid=uid)
        try:
            self.core.create_namespaced_service(self.namespace, service)
        except ApiException as exc:
            if exc.status != 409:
                raise

    def _to_training(self, job: dict[str, Any]) -> coordinator_pb2.Training:
        meta = job.get("metadata", {})
        annotations = meta.get("annotations") or {}
        training = coordinator_pb2.Training(name=meta["name"], spec=manifests.spec_from_annotation(job))
        state, reason = _state(job)
        training.state = state
        if reason:
            training.reason = reason
        created = meta.get("creationTimestamp")
        if created:
            training.created_at.FromDatetime(datetime.datetime.fromisoformat(created.replace("Z", "+00:00")))
        output = annotations.get(manifests.ANNOTATION_OUTPUT)
        if output and self.progress_reader is not None and state != State.TRAINING_STATE_PENDING:
            progress = self._progress(output)
            if progress:
                training.step = int(progress.get("step") or 0)
                training.total_steps = int(progress.get("total_steps") or 0)
                if progress.get("loss") is not None:
                    training.loss = float(progress["loss"])
        return training

    def _progress(self, output: str) -> dict[str, Any] | None:
        try:
            return self.progress_reader(output)
        except (OSError, ValueError, RuntimeError) as exc:
            # Status must not fail because the store is briefly unreachable: report the
            # Job's state without step and loss, and say why in the log.
            log.warning("cannot read progress of %s: %s", output, exc)
            return None


def _is_ours(job: dict[str, Any]) -> bool:
    labels = job.get("metadata", {}).get("labels") or {}
    return labels.get("app.kubernetes.io/managed-by") == manifests.MANAGED_BY and \
        labels.get("app.kubernetes.io/component") == "training"


def _conditions(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (job.get("status") or {}).get("conditions") or []
            if c.get("status") == "True"}


def _finished_state(job: dict[str, Any]) -> tuple[int, str] | None:
    conditions = _conditions(job)
    if "Complete" in conditions:
        return State.TRAINING_STATE_SUCCEEDED, ""
    for kind in ("Failed", "FailureTarget"):
        if kind in conditions:
            condition = conditions[kind]
            reason = ": ".join(p for p in (condition.get("reason"), condition.get("message")) if p)
            return State.TRAINING_STATE_FAILED, reason or "the Job failed"
    annotations = job.get("metadata", {}).get("annotations") or {}
    if annotations.get(manifests.ANNOTATION_CANCELLED) == "true":
        return State.TRAINING_STATE_CANCELLED, "cancelled on request"
    return None


def _state(job: dict[str, Any]) -> tuple[int, str]:
    finished = _finished_state(job)
    if finished is not None:
        return finished
    status = job.get("status") or {}
    ready = status.get("ready")
    # Pods that exist but wait for GPUs or an image pull are not running yet.
    running = ready > 0 if ready is not None else (status.get("active") or 0) > 0
    return (State.TRAINING_STATE_RUNNING if running else State.TRAINING_STATE_PENDING), ""
