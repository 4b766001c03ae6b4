"""Cluster placement defaults for training Jobs, from the coordinator's settings.

A request may override image, node count, GPUs per node, node selector and tolerations;
everything else (GPU resource name, Secrets, requests, NCCL settings, restarts, where
outputs go) is the operator's choice and lives here.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Toleration:
    key: str = ""
    operator: str = "Exists"
    value: str = ""
    effect: str = ""


@dataclass(frozen=True)
class Placement:
    image: str
    # Runs without an output URI write under this prefix, one folder per Job name.
    output_root: str
    nodes: int = 1
    gpus_per_node: int = 8
    gpu_resource: str = "nvidia.com/gpu"
    node_selector: dict[str, str] = field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()
    # Secrets mounted as environment (envFrom): the S3 credentials the trainer reads
    # (MIS_S3_ENDPOINT, MIS_S3_ACCESS_KEY, MIS_S3_SECRET_KEY, MIS_S3_SECURE), a hub token.
    secret_names: tuple[str, ...] = ()
    service_account: str = ""
    image_pull_policy: str = "IfNotPresent"
    # Requests keep training pods out of the BestEffort class, the first evicted under
    # node pressure; memory is also the limit, so a leak is this pod's OOM, not the node's.
    cpu_request: str = ""
    memory_request: str = ""
    # Other per-pod resources asked for as requests and limits, e.g. an RDMA device
    # ({"rdma/rdma_shared_device_a": "1"}) for NCCL over InfiniBand or RoCE.
    extra_resources: dict[str, str] = field(default_factory=dict)
    # NCCL (and other) environment of every rank: NCCL_SOCKET_IFNAME, NCCL_IB_HCA, ...
    nccl_env: dict[str, str] = field(default_factory=dict)
    # NCCL needs a large /dev/shm; the default container one is 64 MiB.
    shm_size: str = "64Gi"
    scratch_size: str = ""
    rendezvous_port: int = 29500
    # How long each pod's init step waits for rank 0's DNS name before failing the pod.
    rendezvous_timeout_seconds: int = 600
    # torchrun restarts the workers of a single-node run this many times (a crashed
    # process); otherwise a failure ends the attempt, and the whole gang is restarted from
    # the last checkpoint up to `max_restarts` times (by the coordinator for a plain Job,
    # by JobSet's failurePolicy for a JobSet).
    torchrun_restarts: int = 0
    max_restarts: int = 3
    # Scheduling on a shared GPU cluster: a PriorityClass and, where Kueue runs,
    # the LocalQueue whose quota admits the Job (see k8s/namespace and k8s/kueue).
    priority_class: str = ""
    queue_name: str = ""
    # Which API runs the gang: auto (discovery), job, jobset or trainjob; for a TrainJob,
    # the ClusterTrainingRuntime it names.
    engine: str = "auto"
    training_runtime: str = "torch-distributed"
    # Keep finished Jobs for status queries for this long (None: until deleted).
    ttl_seconds_after_finished: int | None = 7 * 24 * 3600
    # Cancelled (suspended) Jobs never finish, so the TTL controller never removes them;
    # the coordinator deletes them this long after the cancel.
    cancelled_retention_seconds: int = 24 * 3600
