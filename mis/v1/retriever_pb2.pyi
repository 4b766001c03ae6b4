from mis.v1 import common_pb2 as _common_pb2
from mis.v1 import filter_pb2 as _filter_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RetrieveRequest(_message.Message):
    __slots__ = ("index", "object_phrase", "instruction", "top_k")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    OBJECT_PHRASE_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    index: str
    object_phrase: str
    instruction: str
    top_k: int
    def __init__(self, index: _Optional[str] = ..., object_phrase: _Optional[str] = ..., instruction: _Optional[str] = ..., top_k: _Optional[int] = ...) -> None: ...

class Photo(_message.Message):
    __slots__ = ("item_id", "url", "caption", "score", "image")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    CAPTION_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    url: str
    caption: str
    score: float
    image: _common_pb2.ImageRef
    def __init__(self, item_id: _Optional[str] = ..., url: _Optional[str] = ..., caption: _Optional[str] = ..., score: _Optional[float] = ..., image: _Optional[_Union[_common_pb2.ImageRef, _Mapping]] = ...) -> None: ...

class RetrieveResponse(_message.Message):
    __slots__ = ("photos", "index", "corpus")
    PHOTOS_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    CORPUS_FIELD_NUMBER: _ClassVar[int]
    photos: _containers.RepeatedCompositeFieldContainer[Photo]
    index: str
    corpus: str
    def __init__(self, photos: _Optional[_Iterable[_Union[Photo, _Mapping]]] = ..., index: _Optional[str] = ..., corpus: _Optional[str] = ...) -> None: ...

class RetrievePairRequest(_message.Message):
    __slots__ = ("index", "object1", "object2", "instruction", "top_k", "backend", "skip_check")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    OBJECT1_FIELD_NUMBER: _ClassVar[int]
    OBJECT2_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    SKIP_CHECK_FIELD_NUMBER: _ClassVar[int]
    index: str
    object1: str
    object2: str
    instruction: str
    top_k: int
    backend: str
    skip_check: bool
    def __init__(self, index: _Optional[str] = ..., object1: _Optional[str] = ..., object2: _Optional[str] = ..., instruction: _Optional[str] = ..., top_k: _Optional[int] = ..., backend: _Optional[str] = ..., skip_check: _Optional[bool] = ...) -> None: ...

class PhotoCheck(_message.Message):
    __slots__ = ("shows_object", "reason", "provenance")
    SHOWS_OBJECT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    shows_object: bool
    reason: str
    provenance: _common_pb2.Provenance
    def __init__(self, shows_object: _Optional[bool] = ..., reason: _Optional[str] = ..., provenance: _Optional[_Union[_common_pb2.Provenance, _Mapping]] = ...) -> None: ...

class CheckedPhoto(_message.Message):
    __slots__ = ("photo", "check", "rank")
    PHOTO_FIELD_NUMBER: _ClassVar[int]
    CHECK_FIELD_NUMBER: _ClassVar[int]
    RANK_FIELD_NUMBER: _ClassVar[int]
    photo: Photo
    check: PhotoCheck
    rank: int
    def __init__(self, photo: _Optional[_Union[Photo, _Mapping]] = ..., check: _Optional[_Union[PhotoCheck, _Mapping]] = ..., rank: _Optional[int] = ...) -> None: ...

class RetrievePairResponse(_message.Message):
    __slots__ = ("photo1", "photo2", "index", "corpus")
    PHOTO1_FIELD_NUMBER: _ClassVar[int]
    PHOTO2_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    CORPUS_FIELD_NUMBER: _ClassVar[int]
    photo1: CheckedPhoto
    photo2: CheckedPhoto
    index: str
    corpus: str
    def __init__(self, photo1: _Optional[_Union[CheckedPhoto, _Mapping]] = ..., photo2: _Optional[_Union[CheckedPhoto, _Mapping]] = ..., index: _Optional[str] = ..., corpus: _Optional[str] = ...) -> None: ...

class RetrieveItem(_message.Message):
    __slots__ = ("id", "instruction")
    ID_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    id: str
    instruction: _common_pb2.NeutralInstruction
    def __init__(self, id: _Optional[str] = ..., instruction: _Optional[_Union[_common_pb2.NeutralInstruction, _Mapping]] = ...) -> None: ...

class RetrieveOptions(_message.Message):
    __slots__ = ("backend", "index", "top_k", "taxonomy")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TOP_K_FIELD_NUMBER: _ClassVar[int]
    TAXONOMY_FIELD_NUMBER: _ClassVar[int]
    backend: str
    index: str
    top_k: int
    taxonomy: _common_pb2.Taxonomy
    def __init__(self, backend: _Optional[str] = ..., index: _Optional[str] = ..., top_k: _Optional[int] = ..., taxonomy: _Optional[_Union[_common_pb2.Taxonomy, _Mapping]] = ...) -> None: ...

class RetrieveBatchRequest(_message.Message):
    __slots__ = ("items", "options")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[RetrieveItem]
    options: RetrieveOptions
    def __init__(self, items: _Optional[_Iterable[_Union[RetrieveItem, _Mapping]]] = ..., options: _Optional[_Union[RetrieveOptions, _Mapping]] = ...) -> None: ...

class RetrieveResult(_message.Message):
    __slots__ = ("item_id", "pair", "photo1", "photo2", "index", "corpus", "classified", "rejection", "error", "provenance")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    PAIR_FIELD_NUMBER: _ClassVar[int]
    PHOTO1_FIELD_NUMBER: _ClassVar[int]
    PHOTO2_FIELD_NUMBER: _ClassVar[int]
    INDEX_FIELD_NUMBER: _ClassVar[int]
    CORPUS_FIELD_NUMBER: _ClassVar[int]
    CLASSIFIED_FIELD_NUMBER: _ClassVar[int]
    REJECTION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    pair: _common_pb2.ImagePair
    photo1: CheckedPhoto
    photo2: CheckedPhoto
    index: str
    corpus: str
    classified: _filter_pb2.ClassifyResult
    rejection: _common_pb2.Rejection
    error: _common_pb2.ItemError
    provenance: _containers.RepeatedCompositeFieldContainer[_common_pb2.Provenance]
    def __init__(self, item_id: _Optional[str] = ..., pair: _Optional[_Union[_common_pb2.ImagePair, _Mapping]] = ..., photo1: _Optional[_Union[CheckedPhoto, _Mapping]] = ..., photo2: _Optional[_Union[CheckedPhoto, _Mapping]] = ..., index: _Optional[str] = ..., corpus: _Optional[str] = ..., classified: _Optional[_Union[_filter_pb2.ClassifyResult, _Mapping]] = ..., rejection: _Optional[_Union[_common_pb2.Rejection, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.ItemError, _Mapping]] = ..., provenance: _Optional[_Iterable[_Union[_common_pb2.Provenance, _Mapping]]] = ...) -> None: ...

class RetrieveBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[RetrieveResult]
    def __init__(self, results: _Optional[_Iterable[_Union[RetrieveResult, _Mapping]]] = ...) -> None: ...

class RetrieverServiceGetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RetrieverServiceGetInfoResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: _common_pb2.StageInfo
    def __init__(self, info: _Optional[_Union[_common_pb2.StageInfo, _Mapping]] = ...) -> None: ...
