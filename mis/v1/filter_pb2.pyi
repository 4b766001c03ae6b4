from mis.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TextSafety(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TEXT_SAFETY_UNSPECIFIED: _ClassVar[TextSafety]
    TEXT_SAFETY_SAFE: _ClassVar[TextSafety]
    TEXT_SAFETY_UNSAFE: _ClassVar[TextSafety]

class SheetFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SHEET_FORMAT_UNSPECIFIED: _ClassVar[SheetFormat]
    SHEET_FORMAT_JSONL: _ClassVar[SheetFormat]
    SHEET_FORMAT_CSV: _ClassVar[SheetFormat]

class ReviewDecision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVIEW_DECISION_UNSPECIFIED: _ClassVar[ReviewDecision]
    REVIEW_DECISION_ACCEPT: _ClassVar[ReviewDecision]
    REVIEW_DECISION_REJECT: _ClassVar[ReviewDecision]
TEXT_SAFETY_UNSPECIFIED: TextSafety
TEXT_SAFETY_SAFE: TextSafety
TEXT_SAFETY_UNSAFE: TextSafety
SHEET_FORMAT_UNSPECIFIED: SheetFormat
SHEET_FORMAT_JSONL: SheetFormat
SHEET_FORMAT_CSV: SheetFormat
REVIEW_DECISION_UNSPECIFIED: ReviewDecision
REVIEW_DECISION_ACCEPT: ReviewDecision
REVIEW_DECISION_REJECT: ReviewDecision

class FilterOptions(_message.Message):
    __slots__ = ("backend", "taxonomy", "image_embeddings")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    TAXONOMY_FIELD_NUMBER: _ClassVar[int]
    IMAGE_EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    backend: str
    taxonomy: _common_pb2.Taxonomy
    image_embeddings: bool
    def __init__(self, backend: _Optional[str] = ..., taxonomy: _Optional[_Union[_common_pb2.Taxonomy, _Mapping]] = ..., image_embeddings: _Optional[bool] = ...) -> None: ...

class FilterItem(_message.Message):
    __slots__ = ("id", "instruction", "images")
    ID_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    id: str
    instruction: _common_pb2.NeutralInstruction
    images: _common_pb2.ImagePair
    def __init__(self, id: _Optional[str] = ..., instruction: _Optional[_Union[_common_pb2.NeutralInstruction, _Mapping]] = ..., images: _Optional[_Union[_common_pb2.ImagePair, _Mapping]] = ...) -> None: ...

class ClassifyRequest(_message.Message):
    __slots__ = ("item", "options")
    ITEM_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    item: FilterItem
    options: FilterOptions
    def __init__(self, item: _Optional[_Union[FilterItem, _Mapping]] = ..., options: _Optional[_Union[FilterOptions, _Mapping]] = ...) -> None: ...

class ClassifyResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: ClassifyResult
    def __init__(self, result: _Optional[_Union[ClassifyResult, _Mapping]] = ...) -> None: ...

class ClassifyBatchRequest(_message.Message):
    __slots__ = ("items", "options")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[FilterItem]
    options: FilterOptions
    def __init__(self, items: _Optional[_Iterable[_Union[FilterItem, _Mapping]]] = ..., options: _Optional[_Union[FilterOptions, _Mapping]] = ...) -> None: ...

class ClassifyBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[ClassifyResult]
    def __init__(self, results: _Optional[_Iterable[_Union[ClassifyResult, _Mapping]]] = ...) -> None: ...

class Fingerprint(_message.Message):
    __slots__ = ("item_id", "instruction_text", "image1_phash", "image2_phash", "image_embeddings", "image_embedder")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTION_TEXT_FIELD_NUMBER: _ClassVar[int]
    IMAGE1_PHASH_FIELD_NUMBER: _ClassVar[int]
    IMAGE2_PHASH_FIELD_NUMBER: _ClassVar[int]
    IMAGE_EMBEDDINGS_FIELD_NUMBER: _ClassVar[int]
    IMAGE_EMBEDDER_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    instruction_text: str
    image1_phash: str
    image2_phash: str
    image_embeddings: bytes
    image_embedder: str
    def __init__(self, item_id: _Optional[str] = ..., instruction_text: _Optional[str] = ..., image1_phash: _Optional[str] = ..., image2_phash: _Optional[str] = ..., image_embeddings: _Optional[bytes] = ..., image_embedder: _Optional[str] = ...) -> None: ...

class ClassifyResult(_message.Message):
    __slots__ = ("item_id", "text_safety", "category", "images_explicitly_harmful", "split", "reason", "fingerprint", "rejection", "error", "provenance")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_SAFETY_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    IMAGES_EXPLICITLY_HARMFUL_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    REJECTION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    text_safety: TextSafety
    category: _common_pb2.Category
    images_explicitly_harmful: bool
    split: _common_pb2.Split
    reason: str
    fingerprint: Fingerprint
    rejection: _common_pb2.Rejection
    error: _common_pb2.ItemError
    provenance: _containers.RepeatedCompositeFieldContainer[_common_pb2.Provenance]
    def __init__(self, item_id: _Optional[str] = ..., text_safety: _Optional[_Union[TextSafety, str]] = ..., category: _Optional[_Union[_common_pb2.Category, _Mapping]] = ..., images_explicitly_harmful: _Optional[bool] = ..., split: _Optional[_Union[_common_pb2.Split, str]] = ..., reason: _Optional[str] = ..., fingerprint: _Optional[_Union[Fingerprint, _Mapping]] = ..., rejection: _Optional[_Union[_common_pb2.Rejection, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.ItemError, _Mapping]] = ..., provenance: _Optional[_Iterable[_Union[_common_pb2.Provenance, _Mapping]]] = ...) -> None: ...

class DeduplicateRequest(_message.Message):
    __slots__ = ("fingerprints", "max_image_distance", "min_text_similarity", "min_image_similarity")
    FINGERPRINTS_FIELD_NUMBER: _ClassVar[int]
    MAX_IMAGE_DISTANCE_FIELD_NUMBER: _ClassVar[int]
    MIN_TEXT_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    MIN_IMAGE_SIMILARITY_FIELD_NUMBER: _ClassVar[int]
    fingerprints: _containers.RepeatedCompositeFieldContainer[Fingerprint]
    max_image_distance: int
    min_text_similarity: float
    min_image_similarity: float
    def __init__(self, fingerprints: _Optional[_Iterable[_Union[Fingerprint, _Mapping]]] = ..., max_image_distance: _Optional[int] = ..., min_text_similarity: _Optional[float] = ..., min_image_similarity: _Optional[float] = ...) -> None: ...

class Duplicate(_message.Message):
    __slots__ = ("item_id", "duplicate_of", "reason")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    DUPLICATE_OF_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    duplicate_of: str
    reason: str
    def __init__(self, item_id: _Optional[str] = ..., duplicate_of: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class DeduplicateResponse(_message.Message):
    __slots__ = ("duplicates",)
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    duplicates: _containers.RepeatedCompositeFieldContainer[Duplicate]
    def __init__(self, duplicates: _Optional[_Iterable[_Union[Duplicate, _Mapping]]] = ...) -> None: ...

class ReviewRow(_message.Message):
    __slots__ = ("item_id", "instruction", "category", "split", "image1_url", "image2_url", "reason")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    CATEGORY_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    IMAGE1_URL_FIELD_NUMBER: _ClassVar[int]
    IMAGE2_URL_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    instruction: str
    category: _common_pb2.Category
    split: _common_pb2.Split
    image1_url: str
    image2_url: str
    reason: str
    def __init__(self, item_id: _Optional[str] = ..., instruction: _Optional[str] = ..., category: _Optional[_Union[_common_pb2.Category, _Mapping]] = ..., split: _Optional[_Union[_common_pb2.Split, str]] = ..., image1_url: _Optional[str] = ..., image2_url: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class BuildReviewSheetRequest(_message.Message):
    __slots__ = ("samples", "format", "link_ttl_seconds")
    SAMPLES_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    LINK_TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    samples: _containers.RepeatedCompositeFieldContainer[_common_pb2.Sample]
    format: SheetFormat
    link_ttl_seconds: int
    def __init__(self, samples: _Optional[_Iterable[_Union[_common_pb2.Sample, _Mapping]]] = ..., format: _Optional[_Union[SheetFormat, str]] = ..., link_ttl_seconds: _Optional[int] = ...) -> None: ...

class BuildReviewSheetResponse(_message.Message):
    __slots__ = ("sheet", "format", "rows")
    SHEET_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    sheet: bytes
    format: SheetFormat
    rows: int
    def __init__(self, sheet: _Optional[bytes] = ..., format: _Optional[_Union[SheetFormat, str]] = ..., rows: _Optional[int] = ...) -> None: ...

class ReviewerDecision(_message.Message):
    __slots__ = ("item_id", "decision", "note")
    ITEM_ID_FIELD_NUMBER: _ClassVar[int]
    DECISION_FIELD_NUMBER: _ClassVar[int]
    NOTE_FIELD_NUMBER: _ClassVar[int]
    item_id: str
    decision: ReviewDecision
    note: str
    def __init__(self, item_id: _Optional[str] = ..., decision: _Optional[_Union[ReviewDecision, str]] = ..., note: _Optional[str] = ...) -> None: ...

class ParseReviewDecisionsRequest(_message.Message):
    __slots__ = ("sheet", "format")
    SHEET_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    sheet: bytes
    format: SheetFormat
    def __init__(self, sheet: _Optional[bytes] = ..., format: _Optional[_Union[SheetFormat, str]] = ...) -> None: ...

class ParseReviewDecisionsResponse(_message.Message):
    __slots__ = ("decisions",)
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedCompositeFieldContainer[ReviewerDecision]
    def __init__(self, decisions: _Optional[_Iterable[_Union[ReviewerDecision, _Mapping]]] = ...) -> None: ...

class FilterServiceGetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class FilterServiceGetInfoResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: _common_pb2.StageInfo
    def __init__(self, info: _Optional[_Union[_common_pb2.StageInfo, _Mapping]] = ...) -> None: ...
