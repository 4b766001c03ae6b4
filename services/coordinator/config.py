"""Settings of the coordinator service: where the stage services are, the
store, how often DNS names of replicated stages are re-resolved, where
training Jobs go on Kubernetes, who may call it (bearer tokens; TLS comes
with the common server settings) and which local folders requests may name."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from services.common.setting_groups import ServerSettings, StoreSettings
from services.common.settings import env, group, non_negative, one_of, positive
from services.coordinator.stages import PIPELINE


def _stage_addresses() -> type:
    """One MIS_<SERVICE>_ADDRESS setting per declared stage, named after its
    service (`t2i_refiner` for the t2i-refiner)."""
    fields = [(stage.module, str, env(stage.address_variable, "", help=f"{stage.service} endpoint(s)"))
              for stage in PIPELINE]
    cls = dataclasses.make_dataclass("StageAddresses", fields, frozen=True)
    cls.__module__ = __name__
    cls.__doc__ = ("Default endpoints for stages whose run config names none. Each value is "
                   "`dns:///name:port`, `host:port`, or a comma-separated list of `host:port`.")
    return cls


StageAddresses = _stage_addresses()


@dataclass(frozen=True)
class TrainingSettings:
    """Where MIRage training Jobs run; without a Kubernetes configuration the
    training RPCs answer FAILED_PRECONDITION."""

    namespace: str = env("MIS_K8S_NAMESPACE", "mis", help="namespace for training Jobs")
    trainer_image: str = env("MIS_TRAINER_IMAGE", "mis-trainer:dev", help="trainer container image")
    node_selector: str = env("MIS_TRAINING_NODE_SELECTOR", "",
                             help='JSON object, e.g. {"nvidia.com/gpu.product": "A100-SXM4-80GB"}')
    tolerations: str = env("MIS_TRAINING_TOLERATIONS", "",
                           help='JSON list of {"key","operator","value","effect"}')
    gpu_resource: str = env("MIS_TRAINING_GPU_RESOURCE", "nvidia.com/gpu",
                            help="extended resource name of a GPU")
    s3_secret: str = env("MIS_TRAINING_S3_SECRET", "",
                         help="Secret holding the trainer's MIS_S3_* variables")
    priority_class: str = env("MIS_TRAINING_PRIORITY_CLASS", "",
                              help="PriorityClass of training pods, e.g. mis-training (k8s/namespace)")
    queue: str = env("MIS_TRAINING_QUEUE", "",
                     help="Kueue LocalQueue for training Jobs (k8s/kueue); empty: no Kueue")
    kubeconfig: Path | None = env("MIS_KUBECONFIG", None,
                                  help="kubeconfig file; in-cluster configuration otherwise")
    cpu_request: str = env("MIS_TRAINING_CPU", "", help="CPU request of each training pod, e.g. 32")
    memory_request: str = env("MIS_TRAINING_MEMORY", "",
                              help="memory request (and limit) of each training pod, e.g. 512Gi")
    shm_size: str = env("MIS_TRAINING_SHM_SIZE", "64Gi", help="size of the memory-backed /dev/shm NCCL uses")
    extra_resources: str = env("MIS_TRAINING_EXTRA_RESOURCES", "",
                               help='JSON object of more per-pod resources, e.g. {"rdma/rdma_shared_device_a": "1"}')
    nccl_env: str = env("MIS_TRAINING_NCCL_ENV", "",
                        help='JSON object of NCCL variables for every rank, e.g. {"NCCL_SOCKET_IFNAME": "eth0"}')
    max_restarts: int = env("MIS_TRAINING_MAX_RESTARTS", 3, check=non_negative,
                            help="gang restarts of a failed run (from its last checkpoint)")
    torchrun_restarts: int = env("MIS_TRAINING_TORCHRUN_RESTARTS", 0, check=non_negative,
                                 help="torchrun's own worker restarts in a single-node run")
    cancelled_retention_seconds: int = env("MIS_TRAINING_CANCELLED_RETENTION_SECONDS", 86400, check=non_negative,
                                           help="how long a cancelled run stays readable before it is deleted")
    reconcile_seconds: float = env("MIS_TRAINING_RECONCILE_SECONDS", 30.0, check=positive,
                                   help="how often the coordinator restarts failed gangs and cleans up")
    engine: str = env("MIS_TRAINING_ENGINE", "auto", check=one_of("auto", "job", "jobset", "trainjob"),
                      help="what runs a gang: auto (API discovery: TrainJob, then JobSet, then Job), job, "
                           "jobset or trainjob")
    runtime: str = env("MIS_TRAINING_RUNTIME", "torch-distributed",
                       help="ClusterTrainingRuntime a Kubeflow Trainer TrainJob names")


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = group(ServerSettings)
    store: StoreSettings = group(StoreSettings)
    addresses: StageAddresses = group(StageAddresses)
    training: TrainingSettings = group(TrainingSettings)
    resolve_seconds: float = env("MIS_RESOLVE_SECONDS", 5.0, check=positive,
                                 help="how often DNS names of replicated stages are re-resolved")
    resume: bool = env("MIS_RESUME", True, help="resume unfinished runs found in the store at start")
    stage_calls_in_flight: int = env("MIS_STAGE_CALLS_IN_FLIGHT", 0, check=non_negative,
                                     help="calls in flight to each stage across all runs, handed out round "
                                          "robin among the runs waiting (0: the largest concurrency of the "
                                          "runs using the stage)")
    checkpoint_seconds: float = env("MIS_CHECKPOINT_SECONDS", 30.0, check=non_negative,
                                    help="how often a run's checkpoint is made at least (resume reads it "
                                         "and what came after it)")
    auth_tokens_file: Path | None = env("MIS_AUTH_TOKENS_FILE", None,
                                        help="bearer tokens, one per line as name:token; "
                                             "unset: no authentication (local stack only)")
    local_roots: str = env("MIS_COORDINATOR_LOCAL_ROOTS", "",
                           help="folders (separated by ':' or ',') that seed, taxonomy, export and "
                                "import paths must lie in; empty: the working directory and the "
                                "system temp folder")
