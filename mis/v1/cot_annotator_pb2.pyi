from mis.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AnnotateOptions(_message.Message):
    __slots__ = ("backend", "max_regenerations", "use_judge")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MAX_REGENERATIONS_FIELD_NUMBER: _ClassVar[int]
    USE_JUDGE_FIELD_NUMBER: _ClassVar[int]
    backend: str
    max_regenerations: int
    use_judge: bool
    def __init__(self, backend: _Optional[str] = ..., max_regenerations: _Optional[int] = ..., use_judge: _Optional[bool] = ...) -> None: ...

class AnnotateItem(_message.Message):
    __slots__ = ("id", "instruction", "images", "harmful_query")
    ID_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    HARMFUL_QUERY_FIELD_NUMBER: _ClassVar[int]
    id: str
    instruction: _common_pb2.NeutralInstruction
    images: _common_pb2.ImagePair
    harmful_query: str
    def __init__(self, id: _Optional[str] = ..., instruction: _Optional[_Union[_common_pb2.NeutralInstruction, _Mapping]] = ..., images: _Optional[_Union[_common_pb2.ImagePair, _Mapping]] = ..., harmful_query: _Optional[str] = ...) -> None: ...

class AnnotateRequest(_message.Message):
    __slots__ = ("item", "options")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    item: AnnotateItem
    options: AnnotateOptions
    def __init__(self, item: _Optional[_Union[AnnotateItem, _Mapping]] = ..., options: _Optional[_Union[AnnotateOptions, _Mapping]] = ...) -> None: ...

class AnnotateResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: AnnotateResult
    def __init__(self, result: _Optional[_Union[AnnotateResult, _Mapping]] = ...) -> None: ...

class AnnotateBatchRequest(_message.Message):
    __slots__ = ("items", "options")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[AnnotateItem]
    options: AnnotateOptions
    def __init__(self, items: _Optional[_Iterable[_Union[AnnotateItem, _Mapping]]] = ..., options: _Optional[_Union[AnnotateOptions, _Mapping]] = ...) -> None: ...

class AnnotateBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[AnnotateResult]
    def __init__(self, results: _Optional[_Iterable[_Union[AnnotateResult, _Mapping]]] = ...) -> None: ...

class AnnotateResult(_message.Message):
    __slots__ = ("item_id", "cot", "gate_failures", "rejection", "error", "provenance")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    COT_FIELD_NUMBER: _ClassVar[int]
    GATE_FAILURES_FIELD_NUMBER: _ClassVar[int]
    REJECTION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    cot: _common_pb2.SafetyCot
    gate_failures: _containers.RepeatedScalarFieldContainer[str]
    rejection: _common_pb2.Rejection
    error: _common_pb2.ItemError
    provenance: _containers.RepeatedCompositeFieldContainer[_common_pb2.Provenance]
    def __init__(self, item_id: _Optional[str] = ..., cot: _Optional[_Union[_common_pb2.SafetyCot, _Mapping]] = ..., gate_failures: _Optional[_Iterable[str]] = ..., rejection: _Optional[_Union[_common_pb2.Rejection, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.ItemError, _Mapping]] = ..., provenance: _Optional[_Iterable[_Union[_common_pb2.Provenance, _Mapping]]] = ...) -> None: ...

class CotAnnotatorServiceGetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class CotAnnotatorServiceGetInfoResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: _common_pb2.StageInfo
    def __init__(self, info: _Optional[_Union[_common_pb2.StageInfo, _Mapping]] = ...) -> None: ...
