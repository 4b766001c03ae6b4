from mis.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DetoxifyOptions(_message.Message):
    __slots__ = ("backend", "taxonomy")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    TAXONOMY_FIELD_NUMBER: _ClassVar[int]
    backend: str
    taxonomy: _common_pb2.Taxonomy
    def __init__(self, backend: _Optional[str] = ..., taxonomy: _Optional[_Union[_common_pb2.Taxonomy, _Mapping]] = ...) -> None: ...

class DetoxifyRequest(_message.Message):
    __slots__ = ("query", "options")
    QUERY_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    query: _common_pb2.HarmfulQuery
    options: DetoxifyOptions
    def __init__(self, query: _Optional[_Union[_common_pb2.HarmfulQuery, _Mapping]] = ..., options: _Optional[_Union[DetoxifyOptions, _Mapping]] = ...) -> None: ...

class DetoxifyResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: DetoxifyResult
    def __init__(self, result: _Optional[_Union[DetoxifyResult, _Mapping]] = ...) -> None: ...

class DetoxifyBatchRequest(_message.Message):
    __slots__ = ("queries", "options")
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    queries: _containers.RepeatedCompositeFieldContainer[_common_pb2.HarmfulQuery]
    options: DetoxifyOptions
    def __init__(self, queries: _Optional[_Iterable[_Union[_common_pb2.HarmfulQuery, _Mapping]]] = ..., options: _Optional[_Union[DetoxifyOptions, _Mapping]] = ...) -> None: ...

class DetoxifyBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[DetoxifyResult]
    def __init__(self, results: _Optional[_Iterable[_Union[DetoxifyResult, _Mapping]]] = ...) -> None: ...

class DetoxifyResult(_message.Message):
    __slots__ = ("query_id", "instruction", "rejection", "error", "provenance")
    QUERY_ID_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    REJECTION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    query_id: str
    instruction: _common_pb2.NeutralInstruction
    rejection: _common_pb2.Rejection
    error: _common_pb2.ItemError
    provenance: _containers.RepeatedCompositeFieldContainer[_common_pb2.Provenance]
    def __init__(self, query_id: _Optional[str] = ..., instruction: _Optional[_Union[_common_pb2.NeutralInstruction, _Mapping]] = ..., rejection: _Optional[_Union[_common_pb2.Rejection, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.ItemError, _Mapping]] = ..., provenance: _Optional[_Iterable[_Union[_common_pb2.Provenance, _Mapping]]] = ...) -> None: ...

class DetoxifierServiceGetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DetoxifierServiceGetInfoResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: _common_pb2.StageInfo
    def __init__(self, info: _Optional[_Union[_common_pb2.StageInfo, _Mapping]] = ...) -> None: ...
