"""What a run's Jobs say about it: its attempts, its state, and whether to restart it.

A run is the objects (Jobs, or one JobSet or TrainJob) labelled with its name, one per
attempt. Its state is the newest attempt's: succeeded once its engine says so,
cancelled once the coordinator marked it so, failed when no gang restart is left,
otherwise pending (a restart is due, or no pod is Ready yet) or running.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mis.v1 import coordinator_pb2
from services.coordinator.training import manifests

if TYPE_CHECKING:
    from services.coordinator.training.engines import Engine

State = coordinator_pb2.TrainingState


def is_ours(job: dict[str, Any]) -> bool:
    labels = job.get("metadata", {}).get("labels") or {}
    return labels.get("app.kubernetes.io/managed-by") == manifests.MANAGED_BY and \
        labels.get("app.kubernetes.io/component") == "training"


def attempt_of(job: dict[str, Any]) -> int:
    value = (job.get("metadata", {}).get("labels") or {}).get(manifests.LABEL_ATTEMPT, "0")
    return int(value) if value.isdigit() else 0


def annotation(job: dict[str, Any], key: str) -> str | None:
    return (job.get("metadata", {}).get("annotations") or {}).get(key)


@dataclass(frozen=True)
class Run:
    """A training run: its name and its Jobs, oldest attempt first."""

    name: str
    attempts: tuple[dict[str, Any], ...]

    @property
    def first(self) -> dict[str, Any]:
        return self.attempts[0]

    @property
    def latest(self) -> dict[str, Any]:
        return self.attempts[-1]

    @property
    def attempt(self) -> int:
        return attempt_of(self.latest)

    @property
    def cancelled(self) -> bool:
        return annotation(self.latest, manifests.ANNOTATION_CANCELLED) == "true"

    def cancelled_at(self) -> datetime.datetime | None:
        text = annotation(self.latest, manifests.ANNOTATION_CANCELLED_AT)
        return datetime.datetime.fromisoformat(text) if text else None


def group_runs(jobs: list[dict[str, Any]]) -> dict[str, Run]:
    """Our Jobs by run name (a label, so a selector the server ignores cannot mix runs)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for job in jobs:
        if is_ours(job):
            name = job["metadata"]["labels"].get(manifests.LABEL_TRAINING) or job["metadata"]["name"]
            grouped.setdefault(name, []).append(job)
    return {name: Run(name, tuple(sorted(found, key=attempt_of))) for name, found in grouped.items()}


def _conditions(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (job.get("status") or {}).get("conditions") or []
            if c.get("status") == "True"}


def failure(job: dict[str, Any]) -> str | None:
    """Why the Job failed, or None while it has not."""
    conditions = _conditions(job)
    for kind in ("Failed", "FailureTarget"):
        if kind in conditions:
            condition = conditions[kind]
            reason = ": ".join(p for p in (condition.get("reason"), condition.get("message")) if p)
            return reason or "the Job failed"
    return None


def finished_at(obj: dict[str, Any]) -> datetime.datetime | None:
    """When the object's terminal condition (Complete/Completed/Failed) turned true."""
    times = [c.get("lastTransitionTime") for c in (obj.get("status") or {}).get("conditions") or []
             if c.get("status") == "True" and c.get("type") in ("Complete", "Completed", "Failed")]
    times = [t for t in times if t]
    return datetime.datetime.fromisoformat(max(times).replace("Z", "+00:00")) if times else None


def succeeded(job: dict[str, Any]) -> bool:
    return "Complete" in _conditions(job)


def restart_due(run: Run, engine: "Engine", max_restarts: int) -> bool:
    """The newest attempt failed by itself, and the coordinator may restart the gang once more."""
    if run.cancelled or not engine.coordinator_restarts:
        return False
    finished = engine.outcome(run.latest)
    return finished is not None and not finished[0] and run.attempt < max_restarts


def run_state(run: Run, engine: "Engine", max_restarts: int) -> tuple[int, str]:
    finished = engine.outcome(run.latest)
    if finished is not None and finished[0]:
        return State.TRAINING_STATE_SUCCEEDED, ""
    if run.cancelled:
        return State.TRAINING_STATE_CANCELLED, "cancelled on request"
    if finished is not None:
        reason = finished[1]
        if restart_due(run, engine, max_restarts):
            return State.TRAINING_STATE_PENDING, (f"gang restart {run.attempt + 1} of {max_restarts} "
                                                  f"due after: {reason}")
        restarts = f" (after {run.attempt} gang restarts)" if run.attempt else ""
        return State.TRAINING_STATE_FAILED, reason + restarts
    running = engine.running(run.latest)
    return (State.TRAINING_STATE_RUNNING if running else State.TRAINING_STATE_PENDING), ""
