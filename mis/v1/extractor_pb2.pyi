from mis.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ExtractOptions(_message.Message):
    __slots__ = ("backend", "taxonomy", "queries_per_seed")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    TAXONOMY_FIELD_NUMBER: _ClassVar[int]
    QUERIES_PER_SEED_FIELD_NUMBER: _ClassVar[int]
    backend: str
    taxonomy: _common_pb2.Taxonomy
    queries_per_seed: int
    def __init__(self, backend: _Optional[str] = ..., taxonomy: _Optional[_Union[_common_pb2.Taxonomy, _Mapping]] = ..., queries_per_seed: _Optional[int] = ...) -> None: ...

class ExtractRequest(_message.Message):
    __slots__ = ("seed", "options")
    SEED_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    seed: _common_pb2.Seed
    options: ExtractOptions
    def __init__(self, seed: _Optional[_Union[_common_pb2.Seed, _Mapping]] = ..., options: _Optional[_Union[ExtractOptions, _Mapping]] = ...) -> None: ...

class ExtractResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: ExtractResult
    def __init__(self, result: _Optional[_Union[ExtractResult, _Mapping]] = ...) -> None: ...

class ExtractBatchRequest(_message.Message):
    __slots__ = ("seeds", "options")
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    seeds: _containers.RepeatedCompositeFieldContainer[_common_pb2.Seed]
    options: ExtractOptions
    def __init__(self, seeds: _Optional[_Iterable[_Union[_common_pb2.Seed, _Mapping]]] = ..., options: _Optional[_Union[ExtractOptions, _Mapping]] = ...) -> None: ...

class ExtractBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ExtractResult]
    def __init__(self, results: _Optional[_Iterable[_Union[ExtractResult, _Mapping]]] = ...) -> None: ...

class ExtractResult(_message.Message):
    __slots__ = ("seed_id", "queries", "rejection", "error", "provenance", "discarded")
    SEED_ID_FIELD_NUMBER: _ClassVar[int]
    QUERIES_FIELD_NUMBER: _ClassVar[int]
    REJECTION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    DISCARDED_FIELD_NUMBER: _ClassVar[int]
    seed_id: str
    queries: _containers.RepeatedCompositeFieldContainer[_common_pb2.HarmfulQuery]
    rejection: _common_pb2.Rejection
    error: _common_pb2.ItemError
    provenance: _common_pb2.Provenance
    discarded: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, seed_id: _Optional[str] = ..., queries: _Optional[_Iterable[_Union[_common_pb2.HarmfulQuery, _Mapping]]] = ..., rejection: _Optional[_Union[_common_pb2.Rejection, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.ItemError, _Mapping]] = ..., provenance: _Optional[_Union[_common_pb2.Provenance, _Mapping]] = ..., discarded: _Optional[_Iterable[str]] = ...) -> None: ...

class ExtractorServiceGetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ExtractorServiceGetInfoResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: _common_pb2.StageInfo
    def __init__(self, info: _Optional[_Union[_common_pb2.StageInfo, _Mapping]] = ...) -> None: ...
