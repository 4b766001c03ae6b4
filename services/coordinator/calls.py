"""How the coordinator calls a stage: one batch RPC on the next replica of a
pool, with the per-call deadline, and the status codes it may retry.

Transient faults (a replica gone, a deadline, an overloaded service, an
aborted call) are raised as `TransientStageError`; the pipeline retries
them with backoff. Anything else, INTERNAL and UNKNOWN included (a bug in a
stage does not heal by asking again), is the stage's answer and is not
retried.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import grpc

from services.coordinator.replicas import ReplicaPool
from services.coordinator.stages.base import StageApi, StageCallError, TransientStageError

# The one list of codes worth another try, for whole calls and for item errors alike.
RETRYABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                             grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED})
RETRYABLE_ITEM_CODES = frozenset(code.name for code in RETRYABLE_CODES)
# A call cut off because the replica's connection went away: that replica is
# down, and the call is retried on another one.
_REPLICA_GONE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}


class BatchCaller(Protocol):
    async def __call__(self, request: Any) -> Any: ...


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
            if exc.code() in _REPLICA_GONE:
                self.pool.mark_down(address)
            if exc.code() in RETRYABLE_CODES or exc.code() in _REPLICA_GONE:
                raise TransientStageError(reason) from exc
            raise StageCallError(reason) from exc
