"""How the coordinator talks to each stage: build a batch request from the
items in hand, send it (over gRPC to a replica, or in-process to a logic
object), and take the per-item results back in request order.

Transient faults (a replica gone, a deadline, an overloaded service) are
raised as `TransientStageError`; the pipeline retries them with backoff.
Anything else is an answer and is not retried.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol, Sequence

import grpc
from google.protobuf import json_format

from mis.v1 import (common_pb2, cot_annotator_pb2, cot_annotator_pb2_grpc, detoxifier_pb2,
                    detoxifier_pb2_grpc, extractor_pb2, extractor_pb2_grpc, filter_pb2,
                    filter_pb2_grpc, t2i_refiner_pb2, t2i_refiner_pb2_grpc)
from services.coordinator.replicas import ReplicaPool

# Status codes that say "try again", as gRPC codes and as ItemError code names.
TRANSIENT_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                   grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED,
                   grpc.StatusCode.CANCELLED, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
TRANSIENT_ITEM_CODES = {code.name for code in TRANSIENT_CODES}


class TransientStageError(Exception):
    """The call may succeed if made again (elsewhere)."""


class StageCallError(Exception):
    """The stage refused the whole call; retrying would not help."""


class BatchCaller(Protocol):
    async def __call__(self, request: Any) -> Any: ...


@dataclass(frozen=True)
class StageApi:
    """The batch RPC of one stage: its stub, method and message types."""

    stub: type
    method: str
    request: type
    result_field: str


APIS: dict[str, StageApi] = {
    "extract": StageApi(extractor_pb2_grpc.ExtractorServiceStub, "ExtractBatch",
                        extractor_pb2.ExtractBatchRequest, "results"),
    "detoxify": StageApi(detoxifier_pb2_grpc.DetoxifierServiceStub, "DetoxifyBatch",
                         detoxifier_pb2.DetoxifyBatchRequest, "results"),
    "render": StageApi(t2i_refiner_pb2_grpc.T2IRefinerServiceStub, "RenderPairBatch",
                       t2i_refiner_pb2.RenderPairBatchRequest, "results"),
    "filter": StageApi(filter_pb2_grpc.FilterServiceStub, "ClassifyBatch",
                       filter_pb2.ClassifyBatchRequest, "results"),
    "annotate": StageApi(cot_annotator_pb2_grpc.CotAnnotatorServiceStub, "AnnotateBatch",
                         cot_annotator_pb2.AnnotateBatchRequest, "results"),
    "dedup": StageApi(filter_pb2_grpc.FilterServiceStub, "Deduplicate",
                      filter_pb2.DeduplicateRequest, "duplicates"),
}


class GrpcCaller:
    """Calls one method on the next replica of a pool; transport faults mark
    that replica down and surface as TransientStageError."""

    def __init__(self, pool: ReplicaPool, api: StageApi, timeout_seconds: float,
                 on_pick: Callable[[str], None] | None = None) -> None:
        self.pool = pool
        self.api = api
        self.timeout_seconds = timeout_seconds
        self.on_pick = on_pick
        self._stubs: dict[str, Any] = {}

    async def __call__(self, request: Any) -> Any:
        try:
            address, channel = self.pool.pick()
        except ConnectionError as exc:
            raise TransientStageError(str(exc)) from exc
        if self.on_pick is not None:
            self.on_pick(address)
        stub = self._stubs.get(address)
        if stub is None or stub[0] is not channel:
            stub = self._stubs[address] = (channel, self.api.stub(channel))
        method = getattr(stub[1], self.api.method)
        try:
            return await method(request, timeout=self.timeout_seconds)
        except grpc.aio.AioRpcError as exc:
            reason = f"{address}: {exc.code().name}: {exc.details()}"
            if exc.code() in TRANSIENT_CODES:
                if exc.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED):
                    self.pool.mark_down(address)
                raise TransientStageError(reason) from exc
            raise StageCallError(reason) from exc


class InProcessCaller:
    """Calls a logic object's `batch(request)` directly (benchmarks, tests)."""

    def __init__(self, call: Callable[[Any], Awaitable[Any]]) -> None:
        self.call = call

    async def __call__(self, request: Any) -> Any:
        return await self.call(request)


def results_of(stage: str, response: Any, expected: int) -> Sequence[Any]:
    results = list(getattr(response, APIS[stage].result_field))
    if len(results) != expected:
        raise TransientStageError(f"{stage}: {len(results)} results for {expected} items")
    return results


def provenances_of(stage: str, result: Any) -> list[common_pb2.Provenance]:
    """Every Provenance a stage result carries (for tokens, GPU time and the card)."""
    if stage == "extract":
        return [result.provenance] if result.HasField("provenance") else []
    if stage == "render":
        out = []
        for round_ in result.rounds:
            for name in ("render_provenance", "review_provenance"):
                if round_.HasField(name):
                    out.append(getattr(round_, name))
        return out
    return list(result.provenance)


RESULT_TYPES = {"extract": extractor_pb2.ExtractResult, "detoxify": detoxifier_pb2.DetoxifyResult,
                "render": t2i_refiner_pb2.RenderPairResult, "filter": filter_pb2.ClassifyResult,
                "annotate": cot_annotator_pb2.AnnotateResult}


def result_to_json(result: Any) -> dict:
    return json_format.MessageToDict(result, preserving_proto_field_name=True)


def result_from_json(stage: str, data: dict) -> Any:
    return json_format.ParseDict(data, RESULT_TYPES[stage](), ignore_unknown_fields=True)
