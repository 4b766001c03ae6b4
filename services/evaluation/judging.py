"""How the runner reaches a judge: the judge service over gRPC (the Python
client library) or the judge logic in this process. Either way a batch comes
back with one result per item; a whole call that fails even after backing off
(queue full, service down) turns into an explicit error for each of its items.

`check()` runs before any answer is generated, so a misspelt backend or an
unreachable judge is found in a second, not after an hour of generation.
A judgement's identity (backend, judge model, rubric version, whether images
were sent) is read from its verdict: it keys resumed judgements.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol, Sequence, runtime_checkable

import grpc

from mis.v1 import common_pb2, judge_pb2
from services.common.backoff import Backoff, RetriesExhausted, retry
from services.common.errors import InvalidArgument
from services.judge.client import JudgeClient
from services.judge.judge import Judge

log = logging.getLogger("mis.evaluation")
_RETRYABLE = {grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.UNAVAILABLE,
              grpc.StatusCode.DEADLINE_EXCEEDED}


class JudgeUnusable(RuntimeError):
    """The judge cannot do this run's work (unknown backend, unreachable); the message says why."""


@runtime_checkable
class AnswerJudge(Protocol):
    """A judge that makes the judgement rows itself, from (sample, answer row)
    pairs: one row per pair, in order, each with `class` (the judge's label),
    `verdict`, `judge` (its identity) and `answer_key`, or an `error`."""

    label: str
    batch_size: int

    async def check(self) -> None: ...

    async def judge_answers(self, pairs: Sequence[tuple[Any, dict]]) -> list[dict]: ...

    async def close(self) -> None: ...


class JudgeTransport(Protocol):
    label: str
    batch_size: int

    async def check(self) -> None: ...

    async def judge_batch(self, items: Sequence[judge_pb2.JudgeItem]) -> list[judge_pb2.JudgeItemResult]: ...

    async def close(self) -> None: ...


def verdict_identity(verdict: judge_pb2.Verdict) -> dict:
    """What makes two verdicts comparable: same backend, model, rubric and images-sent."""
    parameters = verdict.provenance.parameters
    sent = "send_images" in parameters and bool(parameters["send_images"])
    return {"backend": verdict.backend, "judge_model": verdict.judge_model,
            "rubric_version": verdict.rubric_version, "images_sent": sent}


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

    async def check(self) -> None:
        try:
            info = await self.client.info()
        except grpc.aio.AioRpcError as exc:
            raise JudgeUnusable(f"judge service: {exc.code().name}: {exc.details()}") from None
        if self.backend and self.backend not in info.backends:
            raise JudgeUnusable(f"--judge-backend {self.backend!r} is not configured on the judge "
                                f"service; available: {', '.join(info.backends)}")

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

    async def check(self) -> None:
        try:
            self.judge.backend_for(judge_pb2.JudgeOptions(backend=self.backend))
        except InvalidArgument as exc:
            raise JudgeUnusable(f"--judge-backend: {exc.reason}") from None

    async def judge_batch(self, items):
        return await self.judge.judge_items(items, judge_pb2.JudgeOptions(backend=self.backend))

    async def close(self) -> None:
        if self.owned:
            await self.judge.close()
