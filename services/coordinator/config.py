"""Settings of the coordinator service: where the stage services are, the
store, how often DNS names of replicated stages are re-resolved, and where
training Jobs go on Kubernetes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.common.config import ServerSettings, StoreSettings
from services.common.settings import env, group, positive


@dataclass(frozen=True)
class StageAddresses:
    """Default endpoints for stages whose run config names none. Each value is
    `dns:///name:port`, `host:port`, or a comma-separated list of `host:port`."""

    extractor: str = env("MIS_EXTRACTOR_ADDRESS", "", help="extractor endpoint(s)")
    detoxifier: str = env("MIS_DETOXIFIER_ADDRESS", "", help="detoxifier endpoint(s)")
    t2i_refiner: str = env("MIS_T2I_REFINER_ADDRESS", "", help="t2i-refiner endpoint(s)")
    filter: str = env("MIS_FILTER_ADDRESS", "", help="filter endpoint(s)")
    cot_annotator: str = env("MIS_COT_ANNOTATOR_ADDRESS", "", help="cot-annotator endpoint(s)")
    judge: str = env("MIS_JUDGE_ADDRESS", "", help="judge endpoint(s)")


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


@dataclass(frozen=True)
class Settings:
    server: ServerSettings = group(ServerSettings)
    store: StoreSettings = group(StoreSettings)
    addresses: StageAddresses = group(StageAddresses)
    training: TrainingSettings = group(TrainingSettings)
    resolve_seconds: float = env("MIS_RESOLVE_SECONDS", 5.0, check=positive,
                                 help="how often DNS names of replicated stages are re-resolved")
    resume: bool = env("MIS_RESUME", True, help="resume unfinished runs found in the store at start")
