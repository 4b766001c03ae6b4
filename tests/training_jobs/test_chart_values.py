"""The chart's training values reach the pods the coordinator launches: render the chart
with real Helm, read the coordinator's environment, load its settings from it, and build
the Job those settings give."""

from __future__ import annotations

from services.common.setting_groups import StoreSettings
from services.common.settings import load_settings
from services.coordinator.config import TrainingSettings
from services.coordinator.training import build_manifests, training_name
from services.coordinator.training.cluster import placement_from
from tests.deploy.chart import env_of, render, requires_helm
from tests.training_jobs.specs import make_spec

TUNED = ("services.coordinator.training.cpu=48", "services.coordinator.training.memory=900Gi",
         "services.coordinator.training.shmSize=256Gi", "services.coordinator.training.maxRestarts=5",
         "services.coordinator.training.ncclEnv.NCCL_SOCKET_IFNAME=eth0",
         "services.coordinator.training.extraResources.rdma/hca=1")


def _coordinator_settings(sets: tuple[str, ...]) -> TrainingSettings:
    rendered = render(sets=sets)
    container = rendered.workload_for("coordinator")["spec"]["template"]["spec"]["containers"][0]
    env = {name: entry["value"] for name, entry in env_of(container).items() if "value" in entry}
    return load_settings(TrainingSettings, env)


@requires_helm
def test_pod_requests_shm_nccl_and_restarts_come_from_the_values():
    settings = _coordinator_settings(TUNED)
    placement = placement_from(settings, StoreSettings(bucket="mis"))
    assert placement.max_restarts == 5
    _, job = build_manifests(training_name("v"), "mis", "v", make_spec(nodes=2), placement)
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"] == {"nvidia.com/gpu": "8", "rdma/hca": "1", "cpu": "48",
                                                  "memory": "900Gi"}
    assert {"name": "NCCL_SOCKET_IFNAME", "value": "eth0"} in container["env"]
    shm = next(v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "dshm")
    assert shm["emptyDir"]["sizeLimit"] == "256Gi"


@requires_helm
def test_the_defaults_ask_for_no_cpu_or_memory_and_keep_three_restarts():
    placement = placement_from(_coordinator_settings(()), StoreSettings(bucket="mis"))
    assert (placement.cpu_request, placement.memory_request, placement.nccl_env) == ("", "", {})
    assert (placement.max_restarts, placement.cancelled_retention_seconds, placement.shm_size) == (3, 86400, "64Gi")
