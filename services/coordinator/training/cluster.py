"""How the coordinator (and `mis train logs`) reaches the cluster, and the placement
defaults the MIS_K8S_* / MIS_TRAINING_* settings give every training Job.

A Kubernetes configuration comes from MIS_KUBECONFIG or the pod's in-cluster service
account; without one, `kubernetes_client` says why, so callers can refuse clearly.
"""

from __future__ import annotations

import json
from typing import Any

from services.common.setting_groups import StoreSettings
from services.common.settings import SettingsError
from services.coordinator.config import TrainingSettings
from services.coordinator.training.placement import Placement, Toleration


def _json(variable: str, text: str, kind: type, empty: Any) -> Any:
    try:
        value = json.loads(text) if text.strip() else empty
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{variable}: not valid JSON: {exc.msg}") from None
    if not isinstance(value, kind):
        raise SettingsError(f"{variable}: expected a JSON {'object' if kind is dict else 'list'}")
    return value


def _string_map(variable: str, text: str, quantities: bool = False) -> dict[str, str]:
    """A JSON object of strings; with `quantities`, whole numbers too (`{"rdma/hca": 1}`)."""
    value = _json(variable, text, dict, {})
    if quantities:
        value = {k: str(v) if isinstance(v, int) and not isinstance(v, bool) else v for k, v in value.items()}
    if not all(isinstance(v, str) for v in value.values()):
        raise SettingsError(f"{variable}: expected a JSON object of strings")
    return value


def _tolerations(text: str) -> tuple[Toleration, ...]:
    raw = _json("MIS_TRAINING_TOLERATIONS", text, list, [])
    if not all(isinstance(t, dict) for t in raw):
        raise SettingsError("MIS_TRAINING_TOLERATIONS: expected a JSON list of objects")
    known = {"key", "operator", "value", "effect"}
    for index, item in enumerate(raw):
        if set(item) - known:
            raise SettingsError(f"MIS_TRAINING_TOLERATIONS: [{index}] has unknown keys "
                                f"{sorted(set(item) - known)}")
    return tuple(Toleration(**item) for item in raw)


def placement_from(settings: TrainingSettings, store: StoreSettings) -> Placement:
    """Cluster placement defaults; bad JSON fails start-up naming the variable."""
    return Placement(
        image=settings.trainer_image, output_root=f"s3://{store.bucket}/trainings",
        gpu_resource=settings.gpu_resource,
        node_selector=_string_map("MIS_TRAINING_NODE_SELECTOR", settings.node_selector),
        tolerations=_tolerations(settings.tolerations),
        secret_names=(settings.s3_secret,) if settings.s3_secret else (),
        priority_class=settings.priority_class, queue_name=settings.queue,
        cpu_request=settings.cpu_request, memory_request=settings.memory_request,
        shm_size=settings.shm_size,
        extra_resources=_string_map("MIS_TRAINING_EXTRA_RESOURCES", settings.extra_resources, quantities=True),
        nccl_env=_string_map("MIS_TRAINING_NCCL_ENV", settings.nccl_env),
        max_restarts=settings.max_restarts, torchrun_restarts=settings.torchrun_restarts,
        cancelled_retention_seconds=settings.cancelled_retention_seconds,
        engine=settings.engine, training_runtime=settings.runtime)


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
