"""The Kubernetes objects of one training run, as plain dicts.

A run is an Indexed `batch/v1` Job with one pod per node and a headless Service of the
same name. Pod i gets the hostname `<name>-i` under the Service's subdomain, so every
node reaches node 0 at `<name>-0.<name>` for torchrun's rendezvous, and its node rank is
the completion index. The name is derived from the request id, so launching the same
request twice addresses the same Job.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format

from mis.v1 import coordinator_pb2
from services.coordinator.training.errors import InvalidTrainingSpecError
from services.coordinator.training.placement import Placement, Toleration

MANAGED_BY = "mis-coordinator"
LABEL_TRAINING = "mis.dev/training"
ANNOTATION_REQUEST = "mis.dev/request-id"
ANNOTATION_SPEC = "mis.dev/spec"
ANNOTATION_SPEC_HASH = "mis.dev/spec-sha256"
ANNOTATION_OUTPUT = "mis.dev/output-uri"
ANNOTATION_CANCELLED = "mis.dev/cancelled"
SELECTOR = f"app.kubernetes.io/managed-by={MANAGED_BY},app.kubernetes.io/component=training"
SCRATCH = "/scratch"
# Job names become pod hostnames `<name>-<index>` (at most 63 characters), so leave room.
MAX_NAME = 52
_OVERRIDE_KEY = re.compile(r"^[a-z_][a-z0-9_]*$")
_PRESET = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_RESERVED = {"dataset": "spec.dataset_uri", "output": "spec.output_uri", "work_dir": "the Job's scratch volume"}
_OPERATORS = {"Exists", "Equal"}
_EFFECTS = {"", "NoSchedule", "PreferNoSchedule", "NoExecute"}


# Kueue admits a Job into the LocalQueue this label names (and suspends it until then).
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"

def training_name(request_id: str) -> str:
    """`mirage-<slug>-<hash>`: readable, DNS-1035, unique per request id, at most 52 chars."""
    if not request_id:
        raise InvalidTrainingSpecError("request_id", "required: it makes a launch idempotent")
    slug = re.sub(r"[^a-z0-9]+", "-", request_id.lower()).strip("-")[:32].strip("-")
    digest = hashlib.sha256(request_id.encode()).hexdigest()[:10]
    name = f"mirage-{slug}-{digest}" if slug else f"mirage-{digest}"
    assert len(name) <= MAX_NAME
    return name


@dataclass(frozen=True)
class ResolvedSpec:
    """A request with the placement defaults filled in and everything checked."""

    preset: str
    dataset_uri: str
    output_uri: str
    overrides: dict[str, str]
    nodes: int
    gpus_per_node: int
    image: str
    node_selector: dict[str, str]
    tolerations: tuple[Toleration, ...]


def resolve_spec(name: str, spec: coordinator_pb2.TrainingSpec, placement: Placement) -> ResolvedSpec:
    if not spec.preset or not _PRESET.match(spec.preset):
        raise InvalidTrainingSpecError("spec.preset", f"must name a trainer preset, got {spec.preset!r}")
    _check_preset(spec.preset)
    if not spec.dataset_uri.startswith("s3://") or len(spec.dataset_uri) <= len("s3://"):
        raise InvalidTrainingSpecError("spec.dataset_uri", f"must be an s3:// URI of an exported train split, "
                                                           f"got {spec.dataset_uri!r}")
    output = spec.output_uri or f"{placement.output_root.rstrip('/')}/{name}"
    if not output.startswith("s3://"):
        raise InvalidTrainingSpecError("spec.output_uri", f"must be an s3:// URI, got {output!r}")
    for key, value in spec.overrides.items():
        if key in _RESERVED:
            raise InvalidTrainingSpecError(f"spec.overrides[{key!r}]", f"set by {_RESERVED[key]}, not an override")
        if not _OVERRIDE_KEY.match(key):
            raise InvalidTrainingSpecError(f"spec.overrides[{key!r}]", "not a trainer config key")
        if "\n" in value or "\x00" in value:
            raise InvalidTrainingSpecError(f"spec.overrides[{key!r}]", "value must be a single line")
    _check_overrides(spec.overrides)
    nodes = spec.nodes or placement.nodes
    gpus = spec.gpus_per_node or placement.gpus_per_node
    if nodes < 1:
        raise InvalidTrainingSpecError("spec.nodes", f"must be >= 1, got {nodes}")
    if gpus < 1:
        raise InvalidTrainingSpecError("spec.gpus_per_node", f"must be >= 1, got {gpus}")
    image = spec.image or placement.image
    if not image:
        raise InvalidTrainingSpecError("spec.image", "no trainer image given and no default configured")
    tolerations = tuple(Toleration(t.key, t.operator or "Equal", t.value, t.effect) for t in spec.tolerations) \
        if spec.tolerations else placement.tolerations
    for position, toleration in enumerate(tolerations):
        field = f"spec.tolerations[{position}]"
        if toleration.operator not in _OPERATORS:
            raise InvalidTrainingSpecError(f"{field}.operator", f"must be one of {sorted(_OPERATORS)}")
        if toleration.effect not in _EFFECTS:
            raise InvalidTrainingSpecError(f"{field}.effect", f"must be one of {sorted(_EFFECTS - {''})} or empty")
        if toleration.operator == "Exists" and toleration.value:
            raise InvalidTrainingSpecError(f"{field}.value", "must be empty when operator is Exists")
    node_selector = dict(spec.node_selector) if spec.node_selector else dict(placement.node_selector)
    return ResolvedSpec(spec.preset, spec.dataset_uri, output, dict(sorted(spec.overrides.items())),
                        nodes, gpus, image, node_selector, tolerations)


def _check_preset(preset: str) -> None:
    """Rejects an unknown preset now rather than in a pod, when the trainer package is here."""
    try:
        from trainer.config import list_presets
    except ImportError:  # a coordinator installed without the trainer package checks the shape only
        return
    known = list_presets()
    if preset not in known:
        raise InvalidTrainingSpecError("spec.preset", f"unknown preset {preset!r}; known: {known}")


def _check_overrides(overrides: dict[str, str]) -> None:
    try:
        from trainer.config import ConfigError, parse_override
    except ImportError:
        return
    for key, value in overrides.items():
        try:
            parse_override(f"{key}={value}")
        except ConfigError as exc:
            raise InvalidTrainingSpecError(f"spec.overrides[{key!r}]", str(exc)) from exc


def spec_fingerprint(spec: coordinator_pb2.TrainingSpec) -> tuple[str, str]:
    """The spec as canonical JSON, and its hash (what "the same request" means)."""
    text = json_format.MessageToJson(spec, sort_keys=True, indent=None)
    return text, hashlib.sha256(text.encode()).hexdigest()


def _labels(name: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "mis-trainer",
        "app.kubernetes.io/component": "training",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        LABEL_TRAINING: name,
    }


def _trainer_args(name: str, resolved: ResolvedSpec, placement: Placement) -> list[str]:
    if resolved.nodes == 1:
        launcher = ["--standalone"]
    else:
        launcher = [f"--nnodes={resolved.nodes}", "--node-rank=$(NODE_RANK)",
                    f"--master-addr={name}-0.{name}", f"--master-port={placement.rendezvous_port}"]
    trainer = ["-m", "trainer.train", "--config", resolved.preset,
               f"dataset={resolved.dataset_uri}", f"output={resolved.output_uri}", f"work_dir={SCRATCH}"]
    return [*launcher, f"--nproc-per-node={resolved.gpus_per_node}", *trainer,
            *(f"{k}={v}" for k, v in resolved.overrides.items())]


def build_manifests(name: str, namespace: str, request_id: str, spec: coordinator_pb2.TrainingSpec,
                    placement: Placement, owner_uid: str | None = None) -> list[dict[str, Any]]:
    """[headless Service, Job] for this request. `owner_uid`: the Job's uid, making the
    Service its dependent so deleting the Job removes both."""
    resolved = resolve_spec(name, spec, placement)
    spec_json, spec_hash = spec_fingerprint(spec)
    labels = _labels(name)
    gpus = str(resolved.gpus_per_node)  # quantities are strings
    requests = {placement.gpu_resource: gpus}
    if placement.cpu_request:
        requests["cpu"] = placement.cpu_request
    if placement.memory_request:
        requests["memory"] = placement.memory_request
    container: dict[str, Any] = {
        "name": "trainer",
        "image": resolved.image,
        "imagePullPolicy": placement.image_pull_policy,
        "command": ["torchrun"],
        "args": _trainer_args(name, resolved, placement),
        "env": [
            {"name": "NODE_RANK", "valueFrom": {"fieldRef": {
                "fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}}},
            {"name": "MIS_TRAINING_NAME", "value": name},
            {"name": "PYTHONUNBUFFERED", "value": "1"},
            # Hub downloads (a preset naming a Hub model) land on the scratch volume.
            {"name": "HF_HOME", "value": f"{SCRATCH}/huggingface"},
        ],
        "envFrom": [{"secretRef": {"name": secret}} for secret in placement.secret_names],
        "resources": {"requests": requests, "limits": {placement.gpu_resource: gpus}},
        "ports": [{"name": "rendezvous", "containerPort": placement.rendezvous_port, "protocol": "TCP"}],
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}, {"name": "scratch", "mountPath": SCRATCH}],
    }
    scratch: dict[str, Any] = {"sizeLimit": placement.scratch_size} if placement.scratch_size else {}
    pod_spec: dict[str, Any] = {
        "subdomain": name,
        "restartPolicy": "Never",
        "containers": [container],
        "volumes": [
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": placement.shm_size}},
            {"name": "scratch", "emptyDir": scratch},
        ],
    }
    if resolved.node_selector:
        pod_spec["nodeSelector"] = resolved.node_selector
    if resolved.tolerations:
        pod_spec["tolerations"] = [
            {k: v for k, v in (("key", t.key), ("operator", t.operator), ("value", t.value), ("effect", t.effect))
             if v}
            for t in resolved.tolerations]
    if placement.service_account:
        pod_spec["serviceAccountName"] = placement.service_account
    if placement.priority_class:
        pod_spec["priorityClassName"] = placement.priority_class
    job_labels = dict(labels)
    if placement.queue_name:
        job_labels[KUEUE_QUEUE_LABEL] = placement.queue_name
    job_spec: dict[str, Any] = {
        "completionMode": "Indexed",
        "completions": resolved.nodes,
        "parallelism": resolved.nodes,
        # A lost node breaks the collective for all: fail the run and resume it from its
        # last checkpoint by launching again, instead of restarting one pod alone.
        "backoffLimit": 0,
        "template": {"metadata": {"labels": dict(labels)}, "spec": pod_spec},
    }
    if placement.ttl_seconds_after_finished is not None:
        job_spec["ttlSecondsAfterFinished"] = placement.ttl_seconds_after_finished
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name, "namespace": namespace, "labels": job_labels,
            "annotations": {ANNOTATION_REQUEST: request_id, ANNOTATION_SPEC: spec_json,
                            ANNOTATION_SPEC_HASH: spec_hash, ANNOTATION_OUTPUT: resolved.output_uri},
        },
        "spec": job_spec,
    }
    service_meta: dict[str, Any] = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if owner_uid:
        service_meta["ownerReferences"] = [{"apiVersion": "batch/v1", "kind": "Job", "name": name,
                                            "uid": owner_uid, "blockOwnerDeletion": True}]
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": service_meta,
        "spec": {
            "clusterIP": "None",
            "selector": {LABEL_TRAINING: name},
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

