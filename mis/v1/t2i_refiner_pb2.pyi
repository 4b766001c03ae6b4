from mis.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Review(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVIEW_UNSPECIFIED: _ClassVar[Review]
    REVIEW_ALIGNED: _ClassVar[Review]
    REVIEW_NOT_ALIGNED: _ClassVar[Review]
    REVIEW_SKIPPED: _ClassVar[Review]
    REVIEW_UNPARSEABLE: _ClassVar[Review]
REVIEW_UNSPECIFIED: Review
REVIEW_ALIGNED: Review
REVIEW_NOT_ALIGNED: Review
REVIEW_SKIPPED: Review
REVIEW_UNPARSEABLE: Review

class RenderOptions(_message.Message):
    __slots__ = ("renderer", "reviewer", "width", "height", "steps", "guidance_scale", "negative_prompt", "seed", "refinement_rounds", "skip_review")
    RENDERER_FIELD_NUMBER: _ClassVar[int]
    REVIEWER_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    REFINEMENT_ROUNDS_FIELD_NUMBER: _ClassVar[int]
    SKIP_REVIEW_FIELD_NUMBER: _ClassVar[int]
    renderer: str
    reviewer: str
    width: int
    height: int
    steps: int
    guidance_scale: float
    negative_prompt: str
    seed: int
    refinement_rounds: int
    skip_review: bool
    def __init__(self, renderer: _Optional[str] = ..., reviewer: _Optional[str] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., steps: _Optional[int] = ..., guidance_scale: _Optional[float] = ..., negative_prompt: _Optional[str] = ..., seed: _Optional[int] = ..., refinement_rounds: _Optional[int] = ..., skip_review: _Optional[bool] = ...) -> None: ...

class RenderPairRequest(_message.Message):
    __slots__ = ("instruction", "options")
    INSTRUCTION_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    instruction: _common_pb2.NeutralInstruction
    options: RenderOptions
    def __init__(self, instruction: _Optional[_Union[_common_pb2.NeutralInstruction, _Mapping]] = ..., options: _Optional[_Union[RenderOptions, _Mapping]] = ...) -> None: ...

class RenderPairResponse(_message.Message):
    __slots__ = ("result",)
    RESULT_FIELD_NUMBER: _ClassVar[int]
    result: RenderPairResult
    def __init__(self, result: _Optional[_Union[RenderPairResult, _Mapping]] = ...) -> None: ...

class RenderPairBatchRequest(_message.Message):
    __slots__ = ("instructions", "options")
    INSTRUCTIONS_FIELD_NUMBER: _ClassVar[int]
    OPTIONS_FIELD_NUMBER: _ClassVar[int]
    instructions: _containers.RepeatedCompositeFieldContainer[_common_pb2.NeutralInstruction]
    options: RenderOptions
    def __init__(self, instructions: _Optional[_Iterable[_Union[_common_pb2.NeutralInstruction, _Mapping]]] = ..., options: _Optional[_Union[RenderOptions, _Mapping]] = ...) -> None: ...

class RenderPairBatchResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[RenderPairResult]
    def __init__(self, results: _Optional[_Iterable[_Union[RenderPairResult, _Mapping]]] = ...) -> None: ...

class RenderRound(_message.Message):
    __slots__ = ("round", "prompt1", "prompt2", "seed1", "seed2", "steps", "guidance_scale", "width", "height", "negative_prompt", "image1", "image2", "review", "refined_prompt1", "refined_prompt2", "render_provenance", "review_provenance")
    ROUND_FIELD_NUMBER: _ClassVar[int]
    PROMPT1_FIELD_NUMBER: _ClassVar[int]
    PROMPT2_FIELD_NUMBER: _ClassVar[int]
    SEED1_FIELD_NUMBER: _ClassVar[int]
    SEED2_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    GUIDANCE_SCALE_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    NEGATIVE_PROMPT_FIELD_NUMBER: _ClassVar[int]
    IMAGE1_FIELD_NUMBER: _ClassVar[int]
    IMAGE2_FIELD_NUMBER: _ClassVar[int]
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    REFINED_PROMPT1_FIELD_NUMBER: _ClassVar[int]
    REFINED_PROMPT2_FIELD_NUMBER: _ClassVar[int]
    RENDER_PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    REVIEW_PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    round: int
    prompt1: str
    prompt2: str
    seed1: int
    seed2: int
    steps: int
    guidance_scale: float
    width: int
    height: int
    negative_prompt: str
    image1: _common_pb2.ImageRef
    image2: _common_pb2.ImageRef
    review: Review
    refined_prompt1: str
    refined_prompt2: str
    render_provenance: _common_pb2.Provenance
    review_provenance: _common_pb2.Provenance
    def __init__(self, round: _Optional[int] = ..., prompt1: _Optional[str] = ..., prompt2: _Optional[str] = ..., seed1: _Optional[int] = ..., seed2: _Optional[int] = ..., steps: _Optional[int] = ..., guidance_scale: _Optional[float] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., negative_prompt: _Optional[str] = ..., image1: _Optional[_Union[_common_pb2.ImageRef, _Mapping]] = ..., image2: _Optional[_Union[_common_pb2.ImageRef, _Mapping]] = ..., review: _Optional[_Union[Review, str]] = ..., refined_prompt1: _Optional[str] = ..., refined_prompt2: _Optional[str] = ..., render_provenance: _Optional[_Union[_common_pb2.Provenance, _Mapping]] = ..., review_provenance: _Optional[_Union[_common_pb2.Provenance, _Mapping]] = ...) -> None: ...

class RenderPairResult(_message.Message):
    __slots__ = ("instruction_id", "pair", "rounds", "rejection", "error")
    INSTRUCTION_ID_FIELD_NUMBER: _ClassVar[int]
    PAIR_FIELD_NUMBER: _ClassVar[int]
    ROUNDS_FIELD_NUMBER: _ClassVar[int]
    REJECTION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    instruction_id: str
    pair: _common_pb2.ImagePair
    rounds: _containers.RepeatedCompositeFieldContainer[RenderRound]
    rejection: _common_pb2.Rejection
    error: _common_pb2.ItemError
    def __init__(self, instruction_id: _Optional[str] = ..., pair: _Optional[_Union[_common_pb2.ImagePair, _Mapping]] = ..., rounds: _Optional[_Iterable[_Union[RenderRound, _Mapping]]] = ..., rejection: _Optional[_Union[_common_pb2.Rejection, _Mapping]] = ..., error: _Optional[_Union[_common_pb2.ItemError, _Mapping]] = ...) -> None: ...

class T2IRefinerServiceGetInfoRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class T2IRefinerServiceGetInfoResponse(_message.Message):
    __slots__ = ("info",)
    INFO_FIELD_NUMBER: _ClassVar[int]
    info: _common_pb2.StageInfo
    def __init__(self, info: _Optional[_Union[_common_pb2.StageInfo, _Mapping]] = ...) -> None: ...
