import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from mis.v1 import common_pb2 as _common_pb2
from mis.v1 import filter_pb2 as _filter_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SeedFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SEED_FORMAT_UNSPECIFIED: _ClassVar[SeedFormat]
    SEED_FORMAT_JSONL: _ClassVar[SeedFormat]
    SEED_FORMAT_MIS_TEST: _ClassVar[SeedFormat]
    SEED_FORMAT_VLGUARD: _ClassVar[SeedFormat]

class RunState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RUN_STATE_UNSPECIFIED: _ClassVar[RunState]
    RUN_STATE_PENDING: _ClassVar[RunState]
    RUN_STATE_RUNNING: _ClassVar[RunState]
    RUN_STATE_SUCCEEDED: _ClassVar[RunState]
    RUN_STATE_FAILED: _ClassVar[RunState]
    RUN_STATE_CANCELLED: _ClassVar[RunState]

class TrainingState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRAINING_STATE_UNSPECIFIED: _ClassVar[TrainingState]
    TRAINING_STATE_PENDING: _ClassVar[TrainingState]
    TRAINING_STATE_RUNNING: _ClassVar[TrainingState]
    TRAINING_STATE_SUCCEEDED: _ClassVar[TrainingState]
    TRAINING_STATE_FAILED: _ClassVar[TrainingState]
    TRAINING_STATE_CANCELLED: _ClassVar[TrainingState]
SEED_FORMAT_UNSPECIFIED: SeedFormat
SEED_FORMAT_JSONL: SeedFormat
SEED_FORMAT_MIS_TEST: SeedFormat
SEED_FORMAT_VLGUARD: SeedFormat
RUN_STATE_UNSPECIFIED: RunState
RUN_STATE_PENDING: RunState
RUN_STATE_RUNNING: RunState
RUN_STATE_SUCCEEDED: RunState
RUN_STATE_FAILED: RunState
RUN_STATE_CANCELLED: RunState
TRAINING_STATE_UNSPECIFIED: TrainingState
TRAINING_STATE_PENDING: TrainingState
TRAINING_STATE_RUNNING: TrainingState
TRAINING_STATE_SUCCEEDED: TrainingState
TRAINING_STATE_FAILED: TrainingState
TRAINING_STATE_CANCELLED: TrainingState

class SeedSource(_message.Message):
    __slots__ = ("uri", "format", "limit")
    URI_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    uri: str
    format: SeedFormat
    limit: int
    def __init__(self, uri: _Optional[str] = ..., format: _Optional[_Union[SeedFormat, str]] = ..., limit: _Optional[int] = ...) -> None: ...

class StageConfig(_message.Message):
    __slots__ = ("stage", "endpoints", "backend", "concurrency", "batch_size", "timeout_seconds", "max_attempts", "options")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    BATCH_SIZE_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    stage: _common_pb2.Stage
    endpoints: _containers.RepeatedScalarFieldContainer[str]
    backend: str
    concurrency: int
    batch_size: int
    timeout_seconds: float
    max_attempts: int
    options: _struct_pb2.Struct
    def __init__(self, stage: _Optional[_Union[_common_pb2.Stage, str]] = ..., endpoints: _Optional[_Iterable[str]] = ..., backend: _Optional[str] = ..., concurrency: _Optional[int] = ..., batch_size: _Optional[int] = ..., timeout_seconds: _Optional[float] = ..., max_attempts: _Optional[int] = ..., options: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class SplitTargets(_message.Message):
    __slots__ = ("train", "easy", "hard", "real", "by_split")
    class BySplitEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    TRAIN_FIELD_NUMBER: _ClassVar[int]
    EASY_FIELD_NUMBER: _ClassVar[int]
    HARD_FIELD_NUMBER: _ClassVar[int]
    REAL_FIELD_NUMBER: _ClassVar[int]
    BY_SPLIT_FIELD_NUMBER: _ClassVar[int]
    train: int
    easy: int
    hard: int
    real: int
    by_split: _containers.ScalarMap[str, int]
    def __init__(self, train: _Optional[int] = ..., easy: _Optional[int] = ..., hard: _Optional[int] = ..., real: _Optional[int] = ..., by_split: _Optional[_Mapping[str, int]] = ...) -> None: ...

class RunConfig(_message.Message):
    __slots__ = ("name", "seeds", "taxonomy", "stages", "targets", "render", "refinement_rounds", "queries_per_seed", "max_cot_regenerations", "use_judge", "dedup_max_image_distance", "dedup_min_text_similarity", "dedup_min_image_similarity")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    TAXONOMY_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    TARGETS_FIELD_NUMBER: _ClassVar[int]
    RENDER_FIELD_NUMBER: _ClassVar[int]
    REFINEMENT_ROUNDS_FIELD_NUMBER: _ClassVar[int]
    QUERIES_PER_SEED_FIELD_NUMBER: _ClassVar[int]
    MAX_COT_REGENERATIONS_FIELD_NUMBER: _ClassVar[int]
    USE_JUDGE_FIELD_NUMBER: _ClassVar[int]
    DEDUP_MAX_IMAGE_DISTANCE_FIELD_NUMBER: _ClassVar[int]
    DEDUP_MIN_TEXT_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    DEDUP_MIN_IMAGE_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    name: str
    seeds: _containers.RepeatedCompositeFieldContainer[SeedSource]
    taxonomy: str
    stages: _containers.RepeatedCompositeFieldContainer[StageConfig]
    targets: SplitTargets
    render: _struct_pb2.Struct
    refinement_rounds: int
    queries_per_seed: int
    max_cot_regenerations: int
    use_judge: bool
    dedup_max_image_distance: int
    dedup_min_text_similarity: float
    dedup_min_image_similarity: float
    def __init__(self, name: _Optional[str] = ..., seeds: _Optional[_Iterable[_Union[SeedSource, _Mapping]]] = ..., taxonomy: _Optional[str] = ..., stages: _Optional[_Iterable[_Union[StageConfig, _Mapping]]] = ..., targets: _Optional[_Union[SplitTargets, _Mapping]] = ..., render: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., refinement_rounds: _Optional[int] = ..., queries_per_seed: _Optional[int] = ..., max_cot_regenerations: _Optional[int] = ..., use_judge: _Optional[bool] = ..., dedup_max_image_distance: _Optional[int] = ..., dedup_min_text_similarity: _Optional[float] = ..., dedup_min_image_similarity: _Optional[float] = ...) -> None: ...

class StageProgress(_message.Message):
    __slots__ = ("stage", "in_flight", "done", "rejected", "failed")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    DONE_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    stage: _common_pb2.Stage
    in_flight: int
    done: int
    rejected: int
    failed: int
    def __init__(self, stage: _Optional[_Union[_common_pb2.Stage, str]] = ..., in_flight: _Optional[int] = ..., done: _Optional[int] = ..., rejected: _Optional[int] = ..., failed: _Optional[int] = ...) -> None: ...

class SampleFailure(_message.Message):
    __slots__ = ("sample_id", "stage", "reason", "attempts")
    SAMPLE_ID_FIELD_NUMBER: _ClassVar[int]
    STAGE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    sample_id: str
    stage: _common_pb2.Stage
    reason: str
    attempts: int
    def __init__(self, sample_id: _Optional[str] = ..., stage: _Optional[_Union[_common_pb2.Stage, str]] = ..., reason: _Optional[str] = ..., attempts: _Optional[int] = ...) -> None: ...

class RunProgress(_message.Message):
    __slots__ = ("stages", "per_split", "failures", "tokens", "gpu_seconds", "samples_total", "samples_finished", "seeds_total", "near_duplicates")
    class PerSplitEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    STAGES_FIELD_NUMBER: _ClassVar[int]
    PER_SPLIT_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    GPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_TOTAL_FIELD_NUMBER: _ClassVar[int]
    SAMPLES_FINISHED_FIELD_NUMBER: _ClassVar[int]
    SEEDS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    NEAR_DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    stages: _containers.RepeatedCompositeFieldContainer[StageProgress]
    per_split: _containers.ScalarMap[str, int]
    failures: _containers.RepeatedCompositeFieldContainer[SampleFailure]
    tokens: _common_pb2.TokenUsage
    gpu_seconds: float
    samples_total: int
    samples_finished: int
    seeds_total: int
    near_duplicates: int
    def __init__(self, stages: _Optional[_Iterable[_Union[StageProgress, _Mapping]]] = ..., per_split: _Optional[_Mapping[str, int]] = ..., failures: _Optional[_Iterable[_Union[SampleFailure, _Mapping]]] = ..., tokens: _Optional[_Union[_common_pb2.TokenUsage, _Mapping]] = ..., gpu_seconds: _Optional[float] = ..., samples_total: _Optional[int] = ..., samples_finished: _Optional[int] = ..., seeds_total: _Optional[int] = ..., near_duplicates: _Optional[int] = ...) -> None: ...

class Run(_message.Message):
    __slots__ = ("id", "config", "state", "progress", "created_at", "updated_at", "message", "inputs_sha256")
    ID_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    INPUTS_SHA256_FIELD_NUMBER: _ClassVar[int]
    id: str
    config: RunConfig
    state: RunState
    progress: RunProgress
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    message: str
    inputs_sha256: str
    def __init__(self, id: _Optional[str] = ..., config: _Optional[_Union[RunConfig, _Mapping]] = ..., state: _Optional[_Union[RunState, str]] = ..., progress: _Optional[_Union[RunProgress, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., message: _Optional[str] = ..., inputs_sha256: _Optional[str] = ...) -> None: ...

class CreateRunRequest(_message.Message):
    __slots__ = ("config", "run_id")
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    config: RunConfig
    run_id: str
    def __init__(self, config: _Optional[_Union[RunConfig, _Mapping]] = ..., run_id: _Optional[str] = ...) -> None: ...

class CreateRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class GetRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class GetRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class ListRunsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRunsResponse(_message.Message):
    __slots__ = ("runs",)
    RUNS_FIELD_NUMBER: _ClassVar[int]
    runs: _containers.RepeatedCompositeFieldContainer[Run]
    def __init__(self, runs: _Optional[_Iterable[_Union[Run, _Mapping]]] = ...) -> None: ...

class CancelRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class CancelRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class WatchRunRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class WatchRunResponse(_message.Message):
    __slots__ = ("run",)
    RUN_FIELD_NUMBER: _ClassVar[int]
    run: Run
    def __init__(self, run: _Optional[_Union[Run, _Mapping]] = ...) -> None: ...

class RetryFailedRequest(_message.Message):
    __slots__ = ("run_id",)
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    def __init__(self, run_id: _Optional[str] = ...) -> None: ...

class RetryFailedResponse(_message.Message):
    __slots__ = ("requeued",)
    REQUEUED_FIELD_NUMBER: _ClassVar[int]
    requeued: int
    def __init__(self, requeued: _Optional[int] = ...) -> None: ...

class ExportDatasetRequest(_message.Message):
    __slots__ = ("run_id", "version", "local_dir")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    LOCAL_DIR_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    version: str
    local_dir: str
    def __init__(self, run_id: _Optional[str] = ..., version: _Optional[str] = ..., local_dir: _Optional[str] = ...) -> None: ...

class DatasetManifest(_message.Message):
    __slots__ = ("name", "version", "uri", "per_split", "card_key")
    class PerSplitEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    PER_SPLIT_FIELD_NUMBER: _ClassVar[int]
    CARD_KEY_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    uri: str
    per_split: _containers.ScalarMap[str, int]
    card_key: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., uri: _Optional[str] = ..., per_split: _Optional[_Mapping[str, int]] = ..., card_key: _Optional[str] = ...) -> None: ...

class ExportDatasetResponse(_message.Message):
    __slots__ = ("manifest",)
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    manifest: DatasetManifest
    def __init__(self, manifest: _Optional[_Union[DatasetManifest, _Mapping]] = ...) -> None: ...

class ImportDatasetRequest(_message.Message):
    __slots__ = ("path", "name", "version")
    PATH_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    path: str
    name: str
    version: str
    def __init__(self, path: _Optional[str] = ..., name: _Optional[str] = ..., version: _Optional[str] = ...) -> None: ...

class ImportDatasetResponse(_message.Message):
    __slots__ = ("manifest", "imported")
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    manifest: DatasetManifest
    imported: int
    def __init__(self, manifest: _Optional[_Union[DatasetManifest, _Mapping]] = ..., imported: _Optional[int] = ...) -> None: ...

class ExportReviewSheetRequest(_message.Message):
    __slots__ = ("run_id", "format", "link_ttl_seconds")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    LINK_TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    format: _filter_pb2.SheetFormat
    link_ttl_seconds: int
    def __init__(self, run_id: _Optional[str] = ..., format: _Optional[_Union[_filter_pb2.SheetFormat, str]] = ..., link_ttl_seconds: _Optional[int] = ...) -> None: ...

class ExportReviewSheetResponse(_message.Message):
    __slots__ = ("sheet", "format", "rows", "link_ttl_seconds")
    SHEET_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    LINK_TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    sheet: bytes
    format: _filter_pb2.SheetFormat
    rows: int
    link_ttl_seconds: int
    def __init__(self, sheet: _Optional[bytes] = ..., format: _Optional[_Union[_filter_pb2.SheetFormat, str]] = ..., rows: _Optional[int] = ..., link_ttl_seconds: _Optional[int] = ...) -> None: ...

class ReviewVersion(_message.Message):
    __slots__ = ("version", "uri", "created_at", "accepted", "rejected", "per_split")
    class PerSplitEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    VERSION_FIELD_NUMBER: _ClassVar[int]
    URI_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    PER_SPLIT_FIELD_NUMBER: _ClassVar[int]
    version: str
    uri: str
    created_at: _timestamp_pb2.Timestamp
    accepted: int
    rejected: int
    per_split: _containers.ScalarMap[str, int]
    def __init__(self, version: _Optional[str] = ..., uri: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., accepted: _Optional[int] = ..., rejected: _Optional[int] = ..., per_split: _Optional[_Mapping[str, int]] = ...) -> None: ...

class ImportReviewDecisionsRequest(_message.Message):
    __slots__ = ("run_id", "sheet", "format", "version")
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SHEET_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    run_id: str
    sheet: bytes
    format: _filter_pb2.SheetFormat
    version: str
    def __init__(self, run_id: _Optional[str] = ..., sheet: _Optional[bytes] = ..., format: _Optional[_Union[_filter_pb2.SheetFormat, str]] = ..., version: _Optional[str] = ...) -> None: ...

class ImportReviewDecisionsResponse(_message.Message):
    __slots__ = ("accepted", "rejected", "undecided", "rejected_total", "manifest", "history")
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_FIELD_NUMBER: _ClassVar[int]
    UNDECIDED_FIELD_NUMBER: _ClassVar[int]
    REJECTED_TOTAL_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    accepted: int
    rejected: int
    undecided: int
    rejected_total: int
    manifest: DatasetManifest
    history: _containers.RepeatedCompositeFieldContainer[ReviewVersion]
    def __init__(self, accepted: _Optional[int] = ..., rejected: _Optional[int] = ..., undecided: _Optional[int] = ..., rejected_total: _Optional[int] = ..., manifest: _Optional[_Union[DatasetManifest, _Mapping]] = ..., history: _Optional[_Iterable[_Union[ReviewVersion, _Mapping]]] = ...) -> None: ...

class Toleration(_message.Message):
    __slots__ = ("key", "operator", "value", "effect")
    KEY_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    EFFECT_FIELD_NUMBER: _ClassVar[int]
    key: str
    operator: str
    value: str
    effect: str
    def __init__(self, key: _Optional[str] = ..., operator: _Optional[str] = ..., value: _Optional[str] = ..., effect: _Optional[str] = ...) -> None: ...

class TrainingSpec(_message.Message):
    __slots__ = ("preset", "dataset_uri", "overrides", "nodes", "gpus_per_node", "image", "node_selector", "tolerations", "output_uri", "extra")
    class OverridesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class NodeSelectorEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    PRESET_FIELD_NUMBER: _ClassVar[int]
    DATASET_URI_FIELD_NUMBER: _ClassVar[int]
    OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    NODES_FIELD_NUMBER: _ClassVar[int]
    GPUS_PER_NODE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    NODE_SELECTOR_FIELD_NUMBER: _ClassVar[int]
    TOLERATIONS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_URI_FIELD_NUMBER: _ClassVar[int]
    EXTRA_FIELD_NUMBER: _ClassVar[int]
    preset: str
    dataset_uri: str
    overrides: _containers.ScalarMap[str, str]
    nodes: int
    gpus_per_node: int
    image: str
    node_selector: _containers.ScalarMap[str, str]
    tolerations: _containers.RepeatedCompositeFieldContainer[Toleration]
    output_uri: str
    extra: _struct_pb2.Struct
    def __init__(self, preset: _Optional[str] = ..., dataset_uri: _Optional[str] = ..., overrides: _Optional[_Mapping[str, str]] = ..., nodes: _Optional[int] = ..., gpus_per_node: _Optional[int] = ..., image: _Optional[str] = ..., node_selector: _Optional[_Mapping[str, str]] = ..., tolerations: _Optional[_Iterable[_Union[Toleration, _Mapping]]] = ..., output_uri: _Optional[str] = ..., extra: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class Training(_message.Message):
    __slots__ = ("name", "spec", "state", "step", "loss", "reason", "created_at", "total_steps", "tokens", "tokens_per_second")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    LOSS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_STEPS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_PER_SECOND_FIELD_NUMBER: _ClassVar[int]
    name: str
    spec: TrainingSpec
    state: TrainingState
    step: int
    loss: float
    reason: str
    created_at: _timestamp_pb2.Timestamp
    total_steps: int
    tokens: int
    tokens_per_second: float
    def __init__(self, name: _Optional[str] = ..., spec: _Optional[_Union[TrainingSpec, _Mapping]] = ..., state: _Optional[_Union[TrainingState, str]] = ..., step: _Optional[int] = ..., loss: _Optional[float] = ..., reason: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., total_steps: _Optional[int] = ..., tokens: _Optional[int] = ..., tokens_per_second: _Optional[float] = ...) -> None: ...

class LaunchTrainingRequest(_message.Message):
    __slots__ = ("request_id", "spec")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    spec: TrainingSpec
    def __init__(self, request_id: _Optional[str] = ..., spec: _Optional[_Union[TrainingSpec, _Mapping]] = ...) -> None: ...

class LaunchTrainingResponse(_message.Message):
    __slots__ = ("training",)
    TRAINING_FIELD_NUMBER: _ClassVar[int]
    training: Training
    def __init__(self, training: _Optional[_Union[Training, _Mapping]] = ...) -> None: ...

class GetTrainingRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetTrainingResponse(_message.Message):
    __slots__ = ("training",)
    TRAINING_FIELD_NUMBER: _ClassVar[int]
    training: Training
    def __init__(self, training: _Optional[_Union[Training, _Mapping]] = ...) -> None: ...

class ListTrainingsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListTrainingsResponse(_message.Message):
    __slots__ = ("trainings",)
    TRAININGS_FIELD_NUMBER: _ClassVar[int]
    trainings: _containers.RepeatedCompositeFieldContainer[Training]
    def __init__(self, trainings: _Optional[_Iterable[_Union[Training, _Mapping]]] = ...) -> None: ...

class CancelTrainingRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class CancelTrainingResponse(_message.Message):
    __slots__ = ("training",)
    TRAINING_FIELD_NUMBER: _ClassVar[int]
    training: Training
    def __init__(self, training: _Optional[_Union[Training, _Mapping]] = ...) -> None: ...
