"""Which status codes from a stage the coordinator retries: one list
(UNAVAILABLE, DEADLINE_EXCEEDED, RESOURCE_EXHAUSTED, ABORTED); a bug in a
stage (INTERNAL, UNKNOWN) or a refusal is its answer and is not retried. The
stage is a real gRPC server on loopback answering with the code under test."""

from __future__ import annotations

import grpc
import pytest

from mis.v1 import filter_pb2
from services.coordinator.callers import RETRYABLE_CODES, GrpcCaller
from services.coordinator.replicas import ReplicaPool
from services.coordinator.stages import StageCallError, TransientStageError
from services.coordinator.stages.filter import DEDUP


class FailingFilter(grpc.GenericRpcHandler):
    """Answers every call with one status code."""

    def __init__(self, code: grpc.StatusCode) -> None:
        self.code = code

    def service(self, details):
        async def fail(request, context):
            await context.abort(self.code, f"answered {self.code.name} on purpose")
        return grpc.unary_unary_rpc_method_handler(
            fail, request_deserializer=filter_pb2.DeduplicateRequest.FromString,
            response_serializer=filter_pb2.DeduplicateResponse.SerializeToString)


async def call_with(code: grpc.StatusCode) -> None:
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((FailingFilter(code),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    pool = await ReplicaPool(f"127.0.0.1:{port}", deadline_seconds=5).start()
    try:
        await GrpcCaller(pool, DEDUP, timeout_seconds=5)(filter_pb2.DeduplicateRequest())
    finally:
        await pool.close()
        await server.stop(0)


def test_one_list_of_retryable_codes():
    assert RETRYABLE_CODES == {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                               grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED}


@pytest.mark.parametrize("code", [grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED,
                                  grpc.StatusCode.UNAVAILABLE])
async def test_transient_codes_are_retried(code):
    with pytest.raises(TransientStageError, match=code.name):
        await call_with(code)


@pytest.mark.parametrize("code", [grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN,
                                  grpc.StatusCode.INVALID_ARGUMENT])
async def test_a_bug_or_a_refusal_is_not_retried(code):
    with pytest.raises(StageCallError, match=code.name):
        await call_with(code)
