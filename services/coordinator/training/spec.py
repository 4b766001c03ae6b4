"""What a training request means once checked: its name, the resolved spec, its fingerprint.

A request becomes a `ResolvedSpec` (the placement defaults filled in, every field checked
against what the trainer accepts) before anything is created, so a bad request is
INVALID_ARGUMENT naming the field rather than a pod that fails an hour later. The name is
derived from the request id, so launching the same request twice addresses the same run.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from google.protobuf import json_format

from mis.v1 import coordinator_pb2
from services.coordinator.training.errors import InvalidTrainingSpecError
from services.coordinator.training.placement import Placement, Toleration

# Job names become pod hostnames `<job>-<index>` (at most 63 characters); a restart's Job
# is `<name>-r<n>`, so leave room for both.
MAX_NAME = 52
_OVERRIDE_KEY = re.compile(r"^[a-z_][a-z0-9_]*$")
_PRESET = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")
_RESERVED = {"dataset": "spec.dataset_uri", "output": "spec.output_uri", "work_dir": "the Job's scratch volume"}
_OPERATORS = {"Exists", "Equal"}
_EFFECTS = {"", "NoSchedule", "PreferNoSchedule", "NoExecute"}


def training_name(request_id: str) -> str:
    """`mirage-<slug>-<hash>`: readable, DNS-1035, unique per request id, at most 52 chars."""
    if not request_id:
        raise InvalidTrainingSpecError("request_id", "required: it makes a launch idempotent")
    slug = re.sub(r"[^a-z0-9]+", "-", request_id.lower()).strip("-")[:32].strip("-")
    digest = hashlib.sha256(request_id.encode()).hexdigest()[:10]
    name = f"mirage-{slug}-{digest}" if slug else f"mirage-{digest}"
    assert len(name) <= MAX_NAME
    return name


def attempt_name(name: str, attempt: int) -> str:
    """The Job of a run's `attempt`: the run's own name first, then `<name>-r<n>` per gang
    restart, so every attempt keeps its pods' hostnames and its failure readable."""
    return name if attempt == 0 else f"{name}-r{attempt}"


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
