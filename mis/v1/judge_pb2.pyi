from mis.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class PerceptionLevel(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PERCEPTION_LEVEL_UNSPECIFIED: _ClassVar[PerceptionLevel]
    PERCEPTION_LEVEL_1: _ClassVar[PerceptionLevel]
    PERCEPTION_LEVEL_2: _ClassVar[PerceptionLevel]
    PERCEPTION_LEVEL_3: _ClassVar[PerceptionLevel]

class Safety(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SAFETY_UNSPECIFIED: _ClassVar[Safety]
    SAFETY_SAFE: _ClassVar[Safety]
    SAFETY_UNSAFE: _ClassVar[Safety]

class ResponseClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESPONSE_CLASS_UNSPECIFIED: _ClassVar[ResponseClass]
    RESPONSE_CLASS_UNSAFE: _ClassVar[ResponseClass]
    RESPONSE_CLASS_SAFE_WITH_REASONING: _ClassVar[ResponseClass]
    RESPONSE_CLASS_SAFE_WITH_REFUSAL: _ClassVar[ResponseClass]
    RESPONSE_CLASS_HALLUCINATION: _ClassVar[ResponseClass]
PERCEPTION_LEVEL_UNSPECIFIED: PerceptionLevel
PERCEPTION_LEVEL_1: PerceptionLevel
PERCEPTION_LEVEL_2: PerceptionLevel
PERCEPTION_LEVEL_3: PerceptionLevel
SAFETY_UNSPECIFIED: Safety
SAFETY_SAFE: Safety
SAFETY_UNSAFE: Safety
RESPONSE_CLASS_UNSPECIFIED: ResponseClass
RESPONSE_CLASS_UNSAFE: ResponseClass
RESPONSE_CLASS_SAFE_WITH_REASONING: ResponseClass
RESPONSE_CLASS_SAFE_WITH_REFUSAL: ResponseClass
RESPONSE_CLASS_HALLUCINATION: ResponseClass

class JudgeItem(_message.Message):
    __slots__ = ("item_id", "question", "images", "response", "category")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    QUESTION_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    question: str
    images: _containers.RepeatedCompositeFieldContainer[_common_pb2.Image]
    response: str
    category: _common_pb2.Category
    def __init__(self, item_id: _Optional[str] = ..., question: _Optional[str] = ..., images: _Optional[_Iterable[_Union[_common_pb2.Image, _Mapping]]] = ..., response: _Optional[str] = ..., category: _Optional[_Union[_common_pb2.Category, _Mapping]] = ...) -> None: ...

class JudgeOptions(_message.Message):
    __slots__ = ("backend", "bypass_cache")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    BYPASS_CACHE_FIELD_NUMBER: _ClassVar[int]
    backend: str
    bypass_cache: bool
    def __init__(self, backend: _Optional[str] = ..., bypass_cache: _Optional[bool] = ...) -> None: ...

class Verdict(_message.Message):
    __slots__ = ("perception_level", "safety", "response_class", "rationale", "judge_model", "rubric_version", "cached", "backend", "provenance")
    PERCEPTION_LEVEL_FIELD_NUMBER: _ClassVar[int]
    SAFETY_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_CLASS_FIELD_NUMBER: _ClassVar[int]
    RATIONALE_FIELD_NUMBER: _ClassVar[int]
    JUDGE_MODEL_FIELD_NUMBER: _ClassVar[int]
    RUBRIC_VERSION_FIELD_NUMBER: _ClassVar[int]
    CACHED_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    perception_level: PerceptionLevel
    safety: Safety
    response_class: ResponseClass
    rationale: str
    judge_model: str
    rubric_version: str
    cached: bool
    backend: str
    provenance: _common_pb2.Provenance
    def __init__(self, perception_level: _Optional[_Union[PerceptionLevel, str]] = ..., safety: _Optional[_Union[Safety, str]] = ..., response_class: _Optional[_Union[ResponseClass, str]] = ..., rationale: _Optional[str] = ..., judge_model: _Optional[str] = ..., rubric_version: _Optional[str] = ..., cached: _Optional[bool] = ..., backend: _Optional[str] = ..., provenance: _Optional[_Union[_common_pb2.Provenance, _Mapping]] = ...) -> None: ...

class JudgeRequest(_message.Message):
    __slots__ = ("item", "options")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    item: JudgeItem
    options: JudgeOptions
    def __init__(self, item: _Optional[_Union[JudgeItem, _Mapping]] = ..., options: _Optional[_Union[JudgeOptions, _Mapping]] = ...) -> None: ...

class JudgeResponse(_message.Message):
    __slots__ = ("verdict",)
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    verdict: Verdict
    def __init__(self, verdict: _Optional[_Union[Verdict, _Mapping]] = ...) -> None: ...

class JudgeBatchRequest(_message.Message):
    __slots__ = ("items", "options")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[JudgeItem]
    options: JudgeOptions
    def __init__(self, items: _Optional[_Iterable[_Union[JudgeItem, _Mapping]]] = ..., options: _Optional[_Union[JudgeOptions, _Mapping]] = ...) -> None: ...

class JudgeItemResult(_message.Message):
    __slots__ = ("item_id", "verdict", "error")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    verdict: Verdict
    error: _common_pb2.ItemError
    def __init__(self, item_id: _Optional[str] = ..., verdict: _Optional[_Union[Verdict, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.ItemError, _Mapping]] = ...) -> None: ...

class JudgeBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[JudgeItemResult]
    def __init__(self, results: _Optional[_Iterable[_Union[JudgeItemResult, _Mapping]]] = ...) -> None: ...

class JudgeStreamRequest(_message.Message):
    __slots__ = ("item", "options")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    item: JudgeItem
    options: JudgeOptions
    def __init__(self, item: _Optional[_Union[JudgeItem, _Mapping]] = ..., options: _Optional[_Union[JudgeOptions, _Mapping]] = ...) -> None: ...

class JudgeStreamResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: JudgeItemResult
    def __init__(self, result: _Optional[_Union[JudgeItemResult, _Mapping]] = ...) -> None: ...

class GetJudgeInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetJudgeInfoResponse(_message.Message):
    __slots__ = ("backends", "default_backend", "rubric_version", "max_images_per_item", "max_image_bytes", "max_batch_items", "contract_version")
    BACKENDS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_BACKEND_FIELD_NUMBER: _ClassVar[int]
    RUBRIC_VERSION_FIELD_NUMBER: _ClassVar[int]
    MAX_IMAGES_PER_ITEM_FIELD_NUMBER: _ClassVar[int]
    MAX_IMAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_ITEMS_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_VERSION_FIELD_NUMBER: _ClassVar[int]
    backends: _containers.RepeatedScalarFieldContainer[str]
    default_backend: str
    rubric_version: str
    max_images_per_item: int
    max_image_bytes: int
    max_batch_items: int
    contract_version: str
    def __init__(self, backends: _Optional[_Iterable[str]] = ..., default_backend: _Optional[str] = ..., rubric_version: _Optional[str] = ..., max_images_per_item: _Optional[int] = ..., max_image_bytes: _Optional[int] = ..., max_batch_items: _Optional[int] = ..., contract_version: _Optional[str] = ...) -> None: ...
