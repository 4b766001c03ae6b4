"""How the runner reaches a judge: the judge service over gRPC (the Python
client library) or the judge logic in this process. Either way a batch comes
back with one result per item; a whole call that fails even after backing off
(queue full, service down) turns into an explicit error for each of its items.
"""

from __future__ import annotations

import logging
from typing import Protocol, Sequence

import grpc

from mis.v1 import common_pb2, judge_pb2
from services.common.backoff import Backoff, RetriesExhausted, retry
from services.judge.client import JudgeClient
from services.judge.judge import Judge

log = logging.getLogger("mis.evaluation")
_RETRYABLE = {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE,
              grpc.StatusCode.DEADLINE_EXCEEDED}


class JudgeTransport(Protocol):
    label: str
    batch_size: int

    async def judge_batch(self, items: Sequence[judge_pb2.JudgeItem]) -> list[judge_pb2.JudgeItemResult]: ...

    async def close(self) -> None: ...


def failed(items: Sequence[judge_pb2.JudgeItem], code: str, message: str) -> list[judge_pb2.JudgeItemResult]:
    return [judge_pb2.JudgeItemResult(item_id=item.item_id,
                                      error=common_pb2.ItemError(code=code, message=message))
            for item in items]


class ServiceJudge:
    """The judge service, by address."""

    def __init__(self, client: JudgeClient, backend: str = "", batch_size: int = 16,
                 backoff: Backoff = Backoff(max_attempts=6, initial_seconds=0.5, max_seconds=8)) -> None:
        self.client = client
        self.backend = backend
        self.label = backend or "default"
        self.batch_size = batch_size
        self.backoff = backoff

    async def judge_batch(self, items):
        try:
            results, _ = await retry(
                lambda: self.client.judge_batch(items, backend=self.backend), policy=self.backoff,
                transient=lambda e: isinstance(e, grpc.aio.AioRpcError) and e.code() in _RETRYABLE)
            return results
        except RetriesExhausted as exc:
            last = exc.last
            log.warning("judge call kept failing", extra={"error": str(last)})
            return failed(items, last.code().name, f"judge service: {last.details()}")
        except grpc.aio.AioRpcError as exc:
            return failed(items, exc.code().name, f"judge service: {exc.details()}")

    async def close(self) -> None:
        await self.client.close()


class InProcessJudge:
    """The judge logic in this process (no service to run)."""

    def __init__(self, judge: Judge, backend: str = "", batch_size: int = 16,
                 owned: bool = True) -> None:
        self.judge = judge
        self.backend = backend
        self.label = backend or judge.default_backend
        self.batch_size = batch_size
        self.owned = owned

    async def judge_batch(self, items):
        return await self.judge.judge_items(items, judge_pb2.JudgeOptions(backend=self.backend))

    async def close(self) -> None:
        if self.owned:
            await self.judge.close()
