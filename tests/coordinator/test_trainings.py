"""The coordinator's training RPCs wired to the Job launcher: a kubeconfig
pointing at kmock (an in-memory Kubernetes API server) through the real
`kubernetes` client; placement defaults from the MIS_TRAINING_* settings;
errors mapped to status codes; a clear refusal without Kubernetes."""

from __future__ import annotations

import asyncio
import dataclasses
import logging

import grpc
import pytest
import yaml

from mis.v1 import coordinator_pb2
from services.common.setting_groups import StoreSettings
from services.common.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, status_for
from services.common.settings import SettingsError, load_settings
from services.coordinator.config import TrainingSettings
from services.coordinator.training.cluster import placement_from
from services.coordinator.training_rpcs import Trainings
from tests.training_jobs.cluster import JOBS
from tests.training_jobs.fixtures import cluster, kmock_options  # noqa: F401  (fixtures)


@pytest.fixture
def kubeconfig(cluster, kmock, tmp_path):
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "test",
        "clusters": [{"name": "kmock", "cluster": {"server": str(kmock.url).rstrip("/")}}],
        "users": [{"name": "tester", "user": {"token": "t"}}],
        "contexts": [{"name": "test", "context": {"cluster": "kmock", "user": "tester"}}]}))
    return path


def settings(**env) -> TrainingSettings:
    return load_settings(TrainingSettings, env)


async def test_launch_get_list_cancel_through_a_kubeconfig(kmock, kubeconfig):
    trainings = Trainings.from_settings(
        settings(MIS_KUBECONFIG=str(kubeconfig), MIS_K8S_NAMESPACE="mis",
                 MIS_TRAINING_NODE_SELECTOR='{"pool": "a100"}',
                 MIS_TRAINING_TOLERATIONS='[{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]',
                 MIS_TRAINING_S3_SECRET="mis-s3"),
        StoreSettings(bucket="mis"))
    spec = coordinator_pb2.TrainingSpec(preset="qwen2_vl_7b", dataset_uri="s3://mis/datasets/demo/v1/")
    training = await trainings.launch("demo-train-1", spec)
    assert training.name
    assert (await trainings.launch("demo-train-1", spec)).name == training.name  # idempotent
    job = kmock.objects[JOBS, "mis", training.name]
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "a100"}
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert [t.name for t in await trainings.list()] == [training.name]
    assert (await trainings.get(training.name)).name == training.name
    cancelled = await trainings.cancel(training.name)
    assert cancelled.state == coordinator_pb2.TRAINING_STATE_CANCELLED
    with pytest.raises(NotFound):
        await trainings.get("no-such-training")
    with pytest.raises(InvalidArgument) as caught:
        await trainings.launch("bad", coordinator_pb2.TrainingSpec(preset="no-such-preset",
                                                                   dataset_uri="s3://mis/x"))
    assert caught.value.field == "spec.preset"


async def test_a_used_request_id_with_another_spec_is_already_exists(kubeconfig):
    trainings = Trainings.from_settings(settings(MIS_KUBECONFIG=str(kubeconfig)), StoreSettings(bucket="mis"))
    spec = coordinator_pb2.TrainingSpec(preset="qwen2_vl_7b", dataset_uri="s3://mis/datasets/demo/v1/")
    await trainings.launch("demo-train-2", spec)
    other = coordinator_pb2.TrainingSpec(preset="qwen2_vl_7b", dataset_uri="s3://mis/datasets/demo/v2/")
    with pytest.raises(AlreadyExists, match="demo-train-2") as caught:
        await trainings.launch("demo-train-2", other)
    assert status_for(caught.value) == grpc.StatusCode.ALREADY_EXISTS


async def test_housekeeping_runs_in_the_background_until_closed(kmock, kubeconfig):
    trainings = Trainings.from_settings(settings(MIS_KUBECONFIG=str(kubeconfig), MIS_TRAINING_MAX_RESTARTS="1",
                                                 MIS_TRAINING_RECONCILE_SECONDS="0.05"),
                                        StoreSettings(bucket="mis"))
    spec = coordinator_pb2.TrainingSpec(preset="qwen2_vl_7b", dataset_uri="s3://mis/datasets/demo/v1/")
    training = await trainings.launch("demo-train-3", spec)
    kmock.objects[JOBS, "mis", training.name].patch({"status": {"failed": 1, "conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}})
    restarted = asyncio.Event()
    handler = _OnRecord(lambda record: "restarted" in record.getMessage() and restarted.set())
    logger = logging.getLogger("mis.coordinator.trainings")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    await trainings.start()
    try:
        # The coordinator's log line about the restart is the signal that a pass ran.
        await asyncio.wait_for(restarted.wait(), 30)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        await trainings.close()
    assert f"{training.name}-r1" in {key[2] for key in kmock.objects}
    assert trainings._housekeeping is None


class _OnRecord(logging.Handler):
    def __init__(self, callback) -> None:
        super().__init__()
        self.callback = callback

    def emit(self, record: logging.LogRecord) -> None:
        self.callback(record)


async def test_without_kubernetes_the_rpcs_say_why():
    trainings = Trainings.from_settings(settings(), StoreSettings())
    with pytest.raises(FailedPrecondition, match="MIS_KUBECONFIG"):
        await trainings.list()
    missing = Trainings.from_settings(settings(MIS_KUBECONFIG="/nonexistent/kubeconfig"), StoreSettings())
    with pytest.raises(FailedPrecondition, match="does not exist"):
        await missing.launch("r", coordinator_pb2.TrainingSpec())


@pytest.mark.parametrize("env, variable", [
    ({"MIS_TRAINING_NODE_SELECTOR": "{pool: a100}"}, "MIS_TRAINING_NODE_SELECTOR"),
    ({"MIS_TRAINING_NODE_SELECTOR": '["a"]'}, "MIS_TRAINING_NODE_SELECTOR"),
    ({"MIS_TRAINING_TOLERATIONS": '{"key": "x"}'}, "MIS_TRAINING_TOLERATIONS"),
    ({"MIS_TRAINING_TOLERATIONS": '[{"colour": "x"}]'}, "MIS_TRAINING_TOLERATIONS"),
    ({"MIS_TRAINING_NCCL_ENV": '{"NCCL_DEBUG": 3}'}, "MIS_TRAINING_NCCL_ENV"),
    ({"MIS_TRAINING_EXTRA_RESOURCES": '["rdma"]'}, "MIS_TRAINING_EXTRA_RESOURCES"),
    ({"MIS_TRAINING_EXTRA_RESOURCES": '{"rdma/hca": true}'}, "MIS_TRAINING_EXTRA_RESOURCES"),
])
def test_bad_placement_settings_name_the_variable(env, variable):
    with pytest.raises(SettingsError, match=variable):
        placement_from(settings(**env), StoreSettings())


def test_placement_defaults_come_from_the_settings():
    placement = placement_from(settings(MIS_TRAINER_IMAGE="registry/mis-trainer:1",
                                        MIS_TRAINING_GPU_RESOURCE="amd.com/gpu"),
                               dataclasses.replace(StoreSettings(), bucket="data"))
    assert placement.image == "registry/mis-trainer:1"
    assert placement.gpu_resource == "amd.com/gpu"
    assert placement.output_root == "s3://data/trainings"


def test_requests_nccl_restarts_and_retention_come_from_the_settings():
    placement = placement_from(settings(MIS_TRAINING_CPU="48", MIS_TRAINING_MEMORY="900Gi",
                                        MIS_TRAINING_SHM_SIZE="256Gi",
                                        MIS_TRAINING_NCCL_ENV='{"NCCL_SOCKET_IFNAME": "eth0"}',
                                        MIS_TRAINING_EXTRA_RESOURCES='{"rdma/hca": "1"}',
                                        MIS_TRAINING_MAX_RESTARTS="5", MIS_TRAINING_TORCHRUN_RESTARTS="2",
                                        MIS_TRAINING_CANCELLED_RETENTION_SECONDS="3600"),
                               StoreSettings())
    assert (placement.cpu_request, placement.memory_request, placement.shm_size) == ("48", "900Gi", "256Gi")
    assert placement.nccl_env == {"NCCL_SOCKET_IFNAME": "eth0"}
    assert placement.extra_resources == {"rdma/hca": "1"}
    assert (placement.max_restarts, placement.torchrun_restarts) == (5, 2)
    assert placement.cancelled_retention_seconds == 3600
