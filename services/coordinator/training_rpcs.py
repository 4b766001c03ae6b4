"""The coordinator's side of MIRage training: builds the `TrainingLauncher`
from the MIS_K8S_* / MIS_TRAINING_* settings when a Kubernetes configuration
is available (MIS_KUBECONFIG, or the pod's in-cluster service account), and
explains why not otherwise, so the training RPCs can answer
FAILED_PRECONDITION with that reason."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Callable

from mis.v1 import coordinator_pb2
from services.common.config import StoreSettings
from services.common.errors import FailedPrecondition, InvalidArgument, NotFound
from services.common.settings import SettingsError
from services.coordinator.config import TrainingSettings

log = logging.getLogger("mis.coordinator.trainings")


def placement_from(settings: TrainingSettings, store: StoreSettings):
    """Cluster placement defaults; bad JSON fails start-up naming the variable."""
    from services.coordinator.training import Placement
    from services.coordinator.training.placement import Toleration

    try:
        selector = json.loads(settings.node_selector) if settings.node_selector.strip() else {}
    except json.JSONDecodeError as exc:
        raise SettingsError(f"MIS_TRAINING_NODE_SELECTOR: not valid JSON: {exc.msg}") from None
    if not isinstance(selector, dict) or not all(isinstance(v, str) for v in selector.values()):
        raise SettingsError("MIS_TRAINING_NODE_SELECTOR: expected a JSON object of strings")
    try:
        raw = json.loads(settings.tolerations) if settings.tolerations.strip() else []
    except json.JSONDecodeError as exc:
        raise SettingsError(f"MIS_TRAINING_TOLERATIONS: not valid JSON: {exc.msg}") from None
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise SettingsError("MIS_TRAINING_TOLERATIONS: expected a JSON list of objects")
    known = {"key", "operator", "value", "effect"}
    for index, item in enumerate(raw):
        if set(item) - known:
            raise SettingsError(f"MIS_TRAINING_TOLERATIONS: [{index}] has unknown keys "
                                f"{sorted(set(item) - known)}")
    return Placement(image=settings.trainer_image, output_root=f"s3://{store.bucket}/trainings",
                     gpu_resource=settings.gpu_resource, node_selector=selector,
                     tolerations=tuple(Toleration(**item) for item in raw),
                     secret_names=(settings.s3_secret,) if settings.s3_secret else (),
                     priority_class=settings.priority_class, queue_name=settings.queue)


def kubernetes_client(settings: TrainingSettings) -> tuple[Any | None, str]:
    """An ApiClient, or None and why not."""
    from kubernetes import client, config

    if settings.kubeconfig is not None:
        if not settings.kubeconfig.is_file():
            return None, f"MIS_KUBECONFIG={settings.kubeconfig} does not exist"
        return config.new_client_from_config(config_file=str(settings.kubeconfig)), ""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        return None, ("no Kubernetes configuration: set MIS_KUBECONFIG or run the coordinator "
                      "in a cluster with a service account")
    return client.ApiClient(configuration), ""


@dataclass
class Trainings:
    """Training RPCs over the launcher, or a clear refusal when there is none."""

    launcher: Any | None
    unavailable_reason: str = ""

    @classmethod
    def from_settings(cls, settings: TrainingSettings, store: StoreSettings,
                      s3_client: Any = None) -> "Trainings":
        placement = placement_from(settings, store)
        api, reason = kubernetes_client(settings)
        if api is None:
            log.info("training disabled: %s", reason)
            return cls(None, reason)
        from services.coordinator.training import StoreProgressReader, TrainingLauncher

        return cls(TrainingLauncher(api, settings.namespace, placement,
                                    progress_reader=StoreProgressReader(s3_client)))

    async def _call(self, operation: Callable[[], Any]) -> Any:
        if self.launcher is None:
            raise FailedPrecondition(f"training is unavailable: {self.unavailable_reason}")
        from kubernetes.client.exceptions import ApiException

        from services.coordinator.training import (InvalidTrainingSpecError, TrainingConflictError,
                                                   TrainingNotFoundError)
        try:
            return await asyncio.to_thread(operation)
        except InvalidTrainingSpecError as exc:
            raise InvalidArgument(f"spec.{exc.field}", exc.reason) from None
        except TrainingNotFoundError as exc:
            raise NotFound(str(exc)) from None
        except TrainingConflictError as exc:
            raise FailedPrecondition(str(exc)) from None
        except ApiException as exc:
            raise FailedPrecondition(f"Kubernetes API answered {exc.status} {exc.reason}") from None

    async def launch(self, request_id: str, spec: coordinator_pb2.TrainingSpec) -> coordinator_pb2.Training:
        if not request_id:
            raise InvalidArgument("request_id", "required (an idempotency key)")
        return await self._call(lambda: self.launcher.launch(request_id, spec))

    async def get(self, name: str) -> coordinator_pb2.Training:
        if not name:
            raise InvalidArgument("name", "required")
        return await self._call(lambda: self.launcher.get(name))

    async def list(self) -> list[coordinator_pb2.Training]:
        return await self._call(lambda: self.launcher.list())

    async def cancel(self, name: str) -> coordinator_pb2.Training:
        if not name:
            raise InvalidArgument("name", "required")
        return await self._call(lambda: self.launcher.cancel(name))
