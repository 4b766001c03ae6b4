"""MIRage training runs as Kubernetes Jobs: manifests, launch, status, list and cancel.

`TrainingLauncher` is what the coordinator's servicer calls; `build_manifests` returns the
same objects as plain dicts for validation and `--dry-run`
(`python -m services.coordinator.training --help`).
"""

from services.coordinator.training.errors import (InvalidTrainingSpecError, TrainingConflictError,
                                                  TrainingNotFoundError)
from services.coordinator.training.launcher import TrainingLauncher
from services.coordinator.training.manifests import build_manifests
from services.coordinator.training.spec import resolve_spec, training_name
from services.coordinator.training.placement import Placement
from services.coordinator.training.progress import StoreProgressReader

__all__ = [
    "InvalidTrainingSpecError", "Placement", "StoreProgressReader", "TrainingConflictError",
    "TrainingLauncher", "TrainingNotFoundError", "build_manifests", "resolve_spec", "training_name",
]
