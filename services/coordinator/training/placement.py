"""Cluster placement defaults for training Jobs, from the coordinator's settings.

A request may override image, node count, GPUs per node, node selector and tolerations;
everything else (GPU resource name, Secrets, scratch sizes, where outputs go) is the
operator's choice and lives here.
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
    cpu_request: str = ""
    memory_request: str = ""
    # NCCL needs a large /dev/shm; the default container one is 64 MiB.
    shm_size: str = "64Gi"
    scratch_size: str = ""
    rendezvous_port: int = 29500
    # Scheduling on a shared GPU cluster: a PriorityClass and, where Kueue runs,
    # the LocalQueue whose quota admits the Job (see k8s/namespace and k8s/kueue).
    priority_class: str = ""
    queue_name: str = ""
    # Keep finished Jobs for status queries for this long (None: until deleted).
    ttl_seconds_after_finished: int | None = 7 * 24 * 3600
