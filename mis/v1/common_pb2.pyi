import datetime

from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Stage(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    STAGE_UNSPECIFIED: _ClassVar[Stage]
    STAGE_EXTRACT: _ClassVar[Stage]
    STAGE_DETOXIFY: _ClassVar[Stage]
    STAGE_REFINE: _ClassVar[Stage]
    STAGE_RENDER: _ClassVar[Stage]
    STAGE_FILTER: _ClassVar[Stage]
    STAGE_ANNOTATE: _ClassVar[Stage]
    STAGE_JUDGE: _ClassVar[Stage]
    STAGE_RETRIEVE: _ClassVar[Stage]

class RejectionReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REJECTION_REASON_UNSPECIFIED: _ClassVar[RejectionReason]
    REJECTION_REASON_UNPARSEABLE_OUTPUT: _ClassVar[RejectionReason]
    REJECTION_REASON_NO_HARM: _ClassVar[RejectionReason]
    REJECTION_REASON_OBJECTS_UNUSABLE: _ClassVar[RejectionReason]
    REJECTION_REASON_UNKNOWN_CATEGORY: _ClassVar[RejectionReason]
    REJECTION_REASON_DUPLICATE: _ClassVar[RejectionReason]
    REJECTION_REASON_NO_RISK: _ClassVar[RejectionReason]
    REJECTION_REASON_QUALITY_GATE: _ClassVar[RejectionReason]
    REJECTION_REASON_REVIEWER: _ClassVar[RejectionReason]
    REJECTION_REASON_MODEL_UNAVAILABLE: _ClassVar[RejectionReason]

class Split(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SPLIT_UNSPECIFIED: _ClassVar[Split]
    SPLIT_TRAIN: _ClassVar[Split]
    SPLIT_EASY: _ClassVar[Split]
    SPLIT_HARD: _ClassVar[Split]
    SPLIT_REAL: _ClassVar[Split]
STAGE_UNSPECIFIED: Stage
STAGE_EXTRACT: Stage
STAGE_DETOXIFY: Stage
STAGE_REFINE: Stage
STAGE_RENDER: Stage
STAGE_FILTER: Stage
STAGE_ANNOTATE: Stage
STAGE_JUDGE: Stage
STAGE_RETRIEVE: Stage
REJECTION_REASON_UNSPECIFIED: RejectionReason
REJECTION_REASON_UNPARSEABLE_OUTPUT: RejectionReason
REJECTION_REASON_NO_HARM: RejectionReason
REJECTION_REASON_OBJECTS_UNUSABLE: RejectionReason
REJECTION_REASON_UNKNOWN_CATEGORY: RejectionReason
REJECTION_REASON_DUPLICATE: RejectionReason
REJECTION_REASON_NO_RISK: RejectionReason
REJECTION_REASON_QUALITY_GATE: RejectionReason
REJECTION_REASON_REVIEWER: RejectionReason
REJECTION_REASON_MODEL_UNAVAILABLE: RejectionReason
SPLIT_UNSPECIFIED: Split
SPLIT_TRAIN: Split
SPLIT_EASY: Split
SPLIT_HARD: Split
SPLIT_REAL: Split

class ImageRef(_message.Message):
    __slots__ = ("bucket", "key", "sha256", "media_type", "width", "height")
    BUCKET_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    SHA256_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    bucket: str
    key: str
    sha256: str
    media_type: str
    width: int
    height: int
    def __init__(self, bucket: _Optional[str] = ..., key: _Optional[str] = ..., sha256: _Optional[str] = ..., media_type: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ...) -> None: ...

class Image(_message.Message):
    __slots__ = ("ref", "data")
    REF_FIELD_NUMBER: _ClassVar[int]
    DATA_FIELD_NUMBER: _ClassVar[int]
    ref: ImageRef
    data: bytes
    def __init__(self, ref: _Optional[_Union[ImageRef, _Mapping]] = ..., data: _Optional[bytes] = ...) -> None: ...

class Category(_message.Message):
    __slots__ = ("name", "sub_category")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SUB_CATEGORY_FIELD_NUMBER: _ClassVar[int]
    name: str
    sub_category: str
    def __init__(self, name: _Optional[str] = ..., sub_category: _Optional[str] = ...) -> None: ...

class TaxonomyCategory(_message.Message):
    __slots__ = ("name", "description", "sub_categories")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SUB_CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    sub_categories: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., sub_categories: _Optional[_Iterable[str]] = ...) -> None: ...

class Taxonomy(_message.Message):
    __slots__ = ("version", "categories")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CATEGORIES_FIELD_NUMBER: _ClassVar[int]
    version: str
    categories: _containers.RepeatedCompositeFieldContainer[TaxonomyCategory]
    def __init__(self, version: _Optional[str] = ..., categories: _Optional[_Iterable[_Union[TaxonomyCategory, _Mapping]]] = ...) -> None: ...

class TokenUsage(_message.Message):
    __slots__ = ("prompt_tokens", "completion_tokens")
    PROMPT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    prompt_tokens: int
    completion_tokens: int
    def __init__(self, prompt_tokens: _Optional[int] = ..., completion_tokens: _Optional[int] = ...) -> None: ...

class Provenance(_message.Message):
    __slots__ = ("stage", "backend", "model", "prompt_version", "parameters", "tokens", "latency_seconds", "gpu_seconds", "attempts", "finished_at", "service_version")
    STAGE_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROMPT_VERSION_FIELD_NUMBER: _ClassVar[int]
    PARAMETERS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_SECONDS_FIELD_NUMBER: _ClassVar[int]
    GPU_SECONDS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    SERVICE_VERSION_FIELD_NUMBER: _ClassVar[int]
    stage: Stage
    backend: str
    model: str
    prompt_version: str
    parameters: _struct_pb2.Struct
    tokens: TokenUsage
    latency_seconds: float
    gpu_seconds: float
    attempts: int
    finished_at: _timestamp_pb2.Timestamp
    service_version: str
    def __init__(self, stage: _Optional[_Union[Stage, str]] = ..., backend: _Optional[str] = ..., model: _Optional[str] = ..., prompt_version: _Optional[str] = ..., parameters: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., tokens: _Optional[_Union[TokenUsage, _Mapping]] = ..., latency_seconds: _Optional[float] = ..., gpu_seconds: _Optional[float] = ..., attempts: _Optional[int] = ..., finished_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., service_version: _Optional[str] = ...) -> None: ...

class Rejection(_message.Message):
    __slots__ = ("reason", "detail")
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    reason: RejectionReason
    detail: str
    def __init__(self, reason: _Optional[_Union[RejectionReason, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class ItemError(_message.Message):
    __slots__ = ("code", "message", "field")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    code: str
    message: str
    field: str
    def __init__(self, code: _Optional[str] = ..., message: _Optional[str] = ..., field: _Optional[str] = ...) -> None: ...

class Seed(_message.Message):
    __slots__ = ("id", "source", "text", "image", "category_hint")
    ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_HINT_FIELD_NUMBER: _ClassVar[int]
    id: str
    source: str
    text: str
    image: Image
    category_hint: str
    def __init__(self, id: _Optional[str] = ..., source: _Optional[str] = ..., text: _Optional[str] = ..., image: _Optional[_Union[Image, _Mapping]] = ..., category_hint: _Optional[str] = ...) -> None: ...

class HarmfulQuery(_message.Message):
    __slots__ = ("id", "seed_id", "category", "query", "object1", "object2")
    ID_FIELD_NUMBER: _ClassVar[int]
    SEED_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    QUERY_FIELD_NUMBER: _ClassVar[int]
    OBJECT1_FIELD_NUMBER: _ClassVar[int]
    OBJECT2_FIELD_NUMBER: _ClassVar[int]
    id: str
    seed_id: str
    category: Category
    query: str
    object1: str
    object2: str
    def __init__(self, id: _Optional[str] = ..., seed_id: _Optional[str] = ..., category: _Optional[_Union[Category, _Mapping]] = ..., query: _Optional[str] = ..., object1: _Optional[str] = ..., object2: _Optional[str] = ...) -> None: ...

class NeutralInstruction(_message.Message):
    __slots__ = ("id", "query_id", "category", "instruction", "object1", "object2", "placeholder_query", "explanation")
    ID_FIELD_NUMBER: _ClassVar[int]
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    OBJECT1_FIELD_NUMBER: _ClassVar[int]
    OBJECT2_FIELD_NUMBER: _ClassVar[int]
    PLACEHOLDER_QUERY_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    id: str
    query_id: str
    category: Category
    instruction: str
    object1: str
    object2: str
    placeholder_query: str
    explanation: str
    def __init__(self, id: _Optional[str] = ..., query_id: _Optional[str] = ..., category: _Optional[_Union[Category, _Mapping]] = ..., instruction: _Optional[str] = ..., object1: _Optional[str] = ..., object2: _Optional[str] = ..., placeholder_query: _Optional[str] = ..., explanation: _Optional[str] = ...) -> None: ...

class ImagePair(_message.Message):
    __slots__ = ("image1", "image2", "prompt1", "prompt2")
    IMAGE1_FIELD_NUMBER: _ClassVar[int]
    IMAGE2_FIELD_NUMBER: _ClassVar[int]
    PROMPT1_FIELD_NUMBER: _ClassVar[int]
    PROMPT2_FIELD_NUMBER: _ClassVar[int]
    image1: ImageRef
    image2: ImageRef
    prompt1: str
    prompt2: str
    def __init__(self, image1: _Optional[_Union[ImageRef, _Mapping]] = ..., image2: _Optional[_Union[ImageRef, _Mapping]] = ..., prompt1: _Optional[str] = ..., prompt2: _Optional[str] = ...) -> None: ...

class SafetyCot(_message.Message):
    __slots__ = ("perception_image1", "perception_image2", "reasoning", "answer", "label")
    PERCEPTION_IMAGE1_FIELD_NUMBER: _ClassVar[int]
    PERCEPTION_IMAGE2_FIELD_NUMBER: _ClassVar[int]
    REASONING_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    perception_image1: str
    perception_image2: str
    reasoning: str
    answer: str
    label: str
    def __init__(self, perception_image1: _Optional[str] = ..., perception_image2: _Optional[str] = ..., reasoning: _Optional[str] = ..., answer: _Optional[str] = ..., label: _Optional[str] = ...) -> None: ...

class Sample(_message.Message):
    __slots__ = ("id", "run_id", "seed_id", "category", "harmful_query", "instruction", "images", "split", "cot", "provenance", "filter_reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    RUN_ID_FIELD_NUMBER: _ClassVar[int]
    SEED_ID_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    HARMFUL_QUERY_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    COT_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    FILTER_REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    run_id: str
    seed_id: str
    category: Category
    harmful_query: str
    instruction: str
    images: ImagePair
    split: Split
    cot: SafetyCot
    provenance: _containers.RepeatedCompositeFieldContainer[Provenance]
    filter_reason: str
    def __init__(self, id: _Optional[str] = ..., run_id: _Optional[str] = ..., seed_id: _Optional[str] = ..., category: _Optional[_Union[Category, _Mapping]] = ..., harmful_query: _Optional[str] = ..., instruction: _Optional[str] = ..., images: _Optional[_Union[ImagePair, _Mapping]] = ..., split: _Optional[_Union[Split, str]] = ..., cot: _Optional[_Union[SafetyCot, _Mapping]] = ..., provenance: _Optional[_Iterable[_Union[Provenance, _Mapping]]] = ..., filter_reason: _Optional[str] = ...) -> None: ...

class RendererInfo(_message.Message):
    __slots__ = ("name", "max_width", "max_height", "multiple_of", "max_steps", "max_guidance_scale")
    NAME_FIELD_NUMBER: _ClassVar[int]
    MAX_WIDTH_FIELD_NUMBER: _ClassVar[int]
    MAX_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    MULTIPLE_OF_FIELD_NUMBER: _ClassVar[int]
    MAX_STEPS_FIELD_NUMBER: _ClassVar[int]
    MAX_GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    name: str
    max_width: int
    max_height: int
    multiple_of: int
    max_steps: int
    max_guidance_scale: float
    def __init__(self, name: _Optional[str] = ..., max_width: _Optional[int] = ..., max_height: _Optional[int] = ..., multiple_of: _Optional[int] = ..., max_steps: _Optional[int] = ..., max_guidance_scale: _Optional[float] = ...) -> None: ...

class StageInfo(_message.Message):
    __slots__ = ("service", "backends", "default_backend", "max_batch_items", "renderers", "default_renderer", "max_refinement_rounds", "default_width", "default_height", "default_steps", "default_refinement_rounds", "max_work_pixel_steps")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_BACKEND_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_ITEMS_FIELD_NUMBER: _ClassVar[int]
    RENDERERS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_RENDERER_FIELD_NUMBER: _ClassVar[int]
    MAX_REFINEMENT_ROUNDS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_WIDTH_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_HEIGHT_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_STEPS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_REFINEMENT_ROUNDS_FIELD_NUMBER: _ClassVar[int]
    MAX_WORK_PIXEL_STEPS_FIELD_NUMBER: _ClassVar[int]
    service: str
    backends: _containers.RepeatedScalarFieldContainer[str]
    default_backend: str
    max_batch_items: int
    renderers: _containers.RepeatedCompositeFieldContainer[RendererInfo]
    default_renderer: str
    max_refinement_rounds: int
    default_width: int
    default_height: int
    default_steps: int
    default_refinement_rounds: int
    max_work_pixel_steps: int
    def __init__(self, service: _Optional[str] = ..., backends: _Optional[_Iterable[str]] = ..., default_backend: _Optional[str] = ..., max_batch_items: _Optional[int] = ..., renderers: _Optional[_Iterable[_Union[RendererInfo, _Mapping]]] = ..., default_renderer: _Optional[str] = ..., max_refinement_rounds: _Optional[int] = ..., default_width: _Optional[int] = ..., default_height: _Optional[int] = ..., default_steps: _Optional[int] = ..., default_refinement_rounds: _Optional[int] = ..., max_work_pixel_steps: _Optional[int] = ...) -> None: ...
