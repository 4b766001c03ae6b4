"""Launch, follow, list, cancel and look after training runs through the Kubernetes API.

The run's objects are those of its engine (engines.py: an Indexed Job with its Service,
a JobSet or a TrainJob), all read and written through the same calls. State comes from
them (the source of truth for pending/running/finished) and step and loss from the
run's progress.json. Cancelling suspends the newest object rather than deleting it
(Kubernetes removes its pods) and, under Kueue, deactivates its Workload so Kueue does
not admit it again; the run stays readable as CANCELLED for the retention period, after
which `reconcile` deletes it (the TTL controller acts on finished Jobs only).
`reconcile` also relaunches a failed Job gang from its last checkpoint.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from mis.v1 import coordinator_pb2
from services.coordinator.training import logs, manifests, status
from services.coordinator.training.engines import JOB, Engine, detect
from services.coordinator.training.errors import TrainingConflictError, TrainingNotFoundError
from services.coordinator.training.kueue import Workloads
from services.coordinator.training.placement import Placement
from services.coordinator.training.spec import training_name

log = logging.getLogger(__name__)

ProgressReader = Callable[[str], "dict[str, Any] | None"]
State = coordinator_pb2.TrainingState


@dataclass(frozen=True)
class Reconciled:
    """What one housekeeping pass did."""

    restarted: tuple[str, ...] = ()
    deleted: tuple[str, ...] = ()
    deactivated: int = 0


class TrainingLauncher:
    def __init__(self, api: client.ApiClient, namespace: str, placement: Placement,
                 progress_reader: ProgressReader | None = None, engine: Engine | None = None) -> None:
        self.api = api
        self.custom = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)
        self.namespace = namespace
        self.placement = placement
        self.progress_reader = progress_reader
        self._engine = engine
        # Workloads exist only where Kueue admits our Jobs (a queue is configured).
        self.workloads = Workloads(api, namespace) if placement.queue_name else None

    @property
    def engine(self) -> Engine:
        """The engine settings name, or (auto) the one API discovery finds, asked once."""
        if self._engine is None:
            self._engine = detect(self.api, self.placement.engine)
            log.info("training runs as %s", self._engine.name)
        return self._engine

    # ------------------------------------------------------------------ operations
    def manifests(self, request_id: str, spec: coordinator_pb2.TrainingSpec) -> list[dict[str, Any]]:
        """What `launch` would create, as plain dicts (for `--dry-run` and validation)."""
        return self.engine.build(training_name(request_id), self.namespace, request_id, spec, self.placement)

    def launch(self, request_id: str, spec: coordinator_pb2.TrainingSpec) -> coordinator_pb2.Training:
        """Creates the run's first Job and its Service; the same request again returns the
        run; the same request id with another spec is a conflict."""
        name = training_name(request_id)
        job = self.engine.build(name, self.namespace, request_id, spec, self.placement)[-1]
        run = self._runs(name).get(name)
        if run is None:
            try:
                self._create(job)
                log.info("training %s %s created for request %s", self.engine.name, name, request_id)
            except ApiException as exc:
                if exc.status != 409:
                    raise  # 409: a concurrent launch of the same request won
            run = self._runs(name).get(name)
            if run is None:
                raise TrainingNotFoundError(f"training {name!r} vanished right after its launch")
        wanted = job["metadata"]["annotations"][manifests.ANNOTATION_SPEC_HASH]
        if status.annotation(run.first, manifests.ANNOTATION_SPEC_HASH) != wanted:
            raise TrainingConflictError(f"request_id {request_id!r} was already used for a different "
                                        f"training spec (training {name})")
        if self.engine is JOB:
            self._ensure_service(run.latest)
        return self._to_training(run)

    def get(self, name: str) -> coordinator_pb2.Training:
        return self._to_training(self._run(name))

    def list(self) -> list[coordinator_pb2.Training]:
        runs = sorted(self._runs().values(),
                      key=lambda r: (r.first["metadata"].get("creationTimestamp") or "", r.name))
        return [self._to_training(run) for run in runs]

    def cancel(self, name: str) -> coordinator_pb2.Training:
        run = self._run(name)
        state, _ = status.run_state(run, self.engine, self.placement.max_restarts)
        if state in (State.TRAINING_STATE_SUCCEEDED, State.TRAINING_STATE_FAILED,
                     State.TRAINING_STATE_CANCELLED):
            return self._to_training(run)  # nothing left to stop
        job = run.latest
        if self.workloads is not None:
            # First, so Kueue does not re-admit the Job between the two calls.
            self.workloads.deactivate(self.workloads.owned_by(job["metadata"]["uid"]))
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
        patch: dict[str, Any] = {"metadata": {"annotations": {manifests.ANNOTATION_CANCELLED: "true",
                                                              manifests.ANNOTATION_CANCELLED_AT: now}}}
        if self.engine.outcome(job) is None:
            patch["spec"] = {"suspend": True}  # a failed attempt has no pods left to stop
        self._patch(job["metadata"]["name"], patch)
        log.info("training %s cancelled (job %s)", name, job["metadata"]["name"])
        return self.get(name)

    def logs(self, name: str, rank: int = 0, follow: bool = False,
             tail_lines: int | None = None) -> Iterator[str]:
        """The log lines of `rank` (a node index) in the newest attempt of the run."""
        run = self._run(name)
        pod = logs.rank_pod(self.core, self.api, self.namespace,
                            self.engine.pod_labels(run.latest["metadata"]["name"]), rank)
        return logs.read_lines(self.core, self.namespace, pod, follow, tail_lines)

    def reconcile(self, now: datetime.datetime | None = None) -> Reconciled:
        """One housekeeping pass: restart failed gangs, keep cancelled runs stopped under
        Kueue, delete cancelled runs past their retention, and finished runs past their TTL
        where the API has no TTL of its own."""
        now = now or datetime.datetime.now(datetime.timezone.utc)
        retention = datetime.timedelta(seconds=self.placement.cancelled_retention_seconds)
        active = self.workloads.active_by_owner() if self.workloads is not None else {}
        restarted, deleted, deactivated = [], [], 0
        for run in self._runs().values():
            if run.cancelled:
                cancelled_at = run.cancelled_at()
                if cancelled_at is not None and now - cancelled_at >= retention:
                    self._delete(run)
                    deleted.append(run.name)
                elif self.workloads is not None:
                    deactivated += self.workloads.deactivate(active.get(run.latest["metadata"]["uid"], []))
            elif status.restart_due(run, self.engine, self.placement.max_restarts):
                self._restart(run)
                restarted.append(run.name)
            elif self._expired(run, now):
                self._delete(run)
                deleted.append(run.name)
        return Reconciled(tuple(restarted), tuple(deleted), deactivated)

    def _expired(self, run: status.Run, now: datetime.datetime) -> bool:
        """A finished run of an engine whose objects carry no TTL (a TrainJob), past the TTL
        Jobs and JobSets get from their own field."""
        ttl = self.placement.ttl_seconds_after_finished
        if self.engine.expires_itself or ttl is None or self.engine.outcome(run.latest) is None:
            return False
        finished = status.finished_at(run.latest)
        return finished is not None and now - finished >= datetime.timedelta(seconds=ttl)

    # ------------------------------------------------------------------ helpers
    def _runs(self, name: str | None = None) -> dict[str, status.Run]:
        selector = f"{manifests.LABEL_TRAINING}={name}" if name else manifests.SELECTOR
        engine = self.engine
        listed = self.custom.list_namespaced_custom_object(engine.group, engine.version, self.namespace,
                                                           engine.plural, label_selector=selector)
        runs = status.group_runs(listed.get("items") or [])
        return {name: runs[name]} if name and name in runs else ({} if name else runs)

    def _run(self, name: str) -> status.Run:
        run = self._runs(name).get(name) if name else None
        if run is None:
            raise TrainingNotFoundError(f"training {name!r} not found in namespace {self.namespace!r}")
        return run

    def _restart(self, run: status.Run) -> None:
        """The next attempt: the same spec and output, so the trainer resumes from the last
        complete checkpoint; its own Job name, so the failed attempt stays readable."""
        attempt = run.attempt + 1
        request_id = status.annotation(run.first, manifests.ANNOTATION_REQUEST) or run.name
        spec = manifests.spec_from_annotation(run.first)
        _, job = manifests.build_manifests(run.name, self.namespace, request_id, spec, self.placement,
                                           attempt=attempt)
        try:
            self._create(job)
        except ApiException as exc:
            if exc.status != 409:
                raise
            return  # another pass made it; its Service follows on the next launch or pass
        log.info("training %s: gang restart %d after: %s", run.name, attempt, status.failure(run.latest))
        # Read back rather than trust the create's reply body: the Service needs the uid.
        self._ensure_service(self._run(run.name).latest)

    def _delete(self, run: status.Run) -> None:
        # Background propagation: the garbage collector removes pods and Services (owned
        # by their Job) after the Jobs are gone.
        for job in run.attempts:
            try:
                engine = self.engine
                self.custom.delete_namespaced_custom_object(engine.group, engine.version, self.namespace,
                                                            engine.plural, job["metadata"]["name"],
                                                            propagation_policy="Background")
            except ApiException as exc:
                if exc.status != 404:
                    raise
        log.info("training %s deleted after its cancel retention", run.name)

    def _create(self, obj: dict[str, Any]) -> dict[str, Any]:
        engine = self.engine
        return self.custom.create_namespaced_custom_object(engine.group, engine.version, self.namespace,
                                                           engine.plural, obj)

    def _patch(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        engine = self.engine
        return self.custom.patch_namespaced_custom_object(engine.group, engine.version, self.namespace,
                                                          engine.plural, name, body)

    def _ensure_service(self, job: dict[str, Any]) -> None:
        """Creates the attempt's headless Service if missing (also after a launch that died
        half-way), owned by the Job."""
        meta = job["metadata"]
        request_id = (meta.get("annotations") or {}).get(manifests.ANNOTATION_REQUEST) or meta["name"]
        service, _ = manifests.build_manifests(
            meta["labels"].get(manifests.LABEL_TRAINING, meta["name"]), self.namespace, request_id,
            manifests.spec_from_annotation(job), self.placement, owner_uid=meta.get("uid"),
            attempt=status.attempt_of(job))
        try:
            self.core.create_namespaced_service(self.namespace, service)
        except ApiException as exc:
            if exc.status != 409:
                raise

    def _to_training(self, run: status.Run) -> coordinator_pb2.Training:
        training = coordinator_pb2.Training(name=run.name, spec=manifests.spec_from_annotation(run.first))
        state, reason = status.run_state(run, self.engine, self.placement.max_restarts)
        training.state = state
        if reason:
            training.reason = reason
        created = run.first["metadata"].get("creationTimestamp")
        if created:
            training.created_at.FromDatetime(datetime.datetime.fromisoformat(created.replace("Z", "+00:00")))
        output = status.annotation(run.first, manifests.ANNOTATION_OUTPUT)
        if output and self.progress_reader is not None and state != State.TRAINING_STATE_PENDING:
            progress = self._progress(output)
            if progress:
                training.step = int(progress.get("step") or 0)
                training.total_steps = int(progress.get("total_steps") or 0)
                if progress.get("loss") is not None:
                    training.loss = float(progress["loss"])
                training.tokens = int(progress.get("tokens") or 0)
                training.tokens_per_second = float(progress.get("tokens_per_second") or 0.0)
        return training

    def _progress(self, output: str) -> dict[str, Any] | None:
        try:
            return self.progress_reader(output)
        except (OSError, ValueError, RuntimeError) as exc:
            # Status must not fail because the store is briefly unreachable: report the
            # Job's state without step and loss, and say why in the log.
            log.warning("cannot read progress of %s: %s", output, exc)
            return None
