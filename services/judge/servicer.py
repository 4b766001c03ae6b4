"""gRPC adapter of the judge: admission (rate limit, bounded queue), request
shape checks, then the in-process `Judge`; results mapped to the contract."""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator

import grpc

from mis.v1 import judge_pb2, judge_pb2_grpc
from services.common.errors import InvalidArgument, ResourceExhausted, grpc_errors
from services.common.interceptors import caller_of
from services.judge.admission import AdmissionGate, AdmissionQueue, RateLimiter
from services.judge.judge import Judge as SafetyJudge, item_error

ANONYMOUS = "anonymous"


class JudgeServicer(judge_pb2_grpc.JudgeServiceServicer):
    def __init__(self, judge: SafetyJudge, limiter: RateLimiter, queue: AdmissionQueue,
                 tokens: dict[str, str] | None = None, stream_window: int = 64) -> None:
        self.judge = judge
        self.limiter = limiter
        self.queue = queue
        self.tokens = tokens or {}
        self.stream_window = stream_window

    def caller(self, context: grpc.aio.ServicerContext) -> str:
        """The caller's name from its token; without authentication all callers share one."""
        return self.caller_named(caller_of(context))

    def caller_named(self, token: str) -> str:
        return self.tokens.get(token, ANONYMOUS)

    def gate(self) -> AdmissionGate:
        """The interceptor refusing what cannot be admitted before its body is read."""
        return AdmissionGate(self.limiter, self.queue, self.caller_named,
                             lambda reason: self.judge.metrics.refused.labels(reason).inc())

    def admit(self, caller: str, count: int) -> None:
        try:
            self.limiter.admit(caller, count)
        except ResourceExhausted:
            self.judge.metrics.refused.labels("rate_limit").inc()
            raise
        try:
            self.queue.acquire(count)
        except ResourceExhausted:
            self.judge.metrics.refused.labels("queue_full").inc()
            raise
        self.judge.metrics.queue.set(self.queue.in_flight)

    def release(self, count: int) -> None:
        self.queue.release(count)
        self.judge.metrics.queue.set(self.queue.in_flight)

    @contextlib.contextmanager
    def admitted(self, caller: str, count: int):
        self.admit(caller, count)
        try:
            yield
        finally:
            self.release(count)

    @grpc_errors
    async def Judge(self, request: judge_pb2.JudgeRequest, context) -> judge_pb2.JudgeResponse:
        with self.admitted(self.caller(context), 1):
            result = await self.judge.judge_result(request.item, request.options, "item")
        if result.HasField("error"):
            error = result.error
            where = f"{error.field}: " if error.field else ""
            await context.abort(grpc.StatusCode[error.code], f"{where}{error.message}")
        return judge_pb2.JudgeResponse(verdict=result.verdict)

    @grpc_errors
    async def JudgeBatch(self, request: judge_pb2.JudgeBatchRequest,
                         context) -> judge_pb2.JudgeBatchResponse:
        count = len(request.items)
        if count == 0:
            raise InvalidArgument("items", "at least one item is required")
        if count > self.judge.max_batch_items:
            raise InvalidArgument("items", f"{count} items, over the limit of "
                                           f"{self.judge.max_batch_items} per batch")
        self.judge.backend_for(request.options)
        with self.admitted(self.caller(context), count):
            results = await self.judge.judge_items(request.items, request.options)
        return judge_pb2.JudgeBatchResponse(results=results)

    async def stream_result(self, request: judge_pb2.JudgeStreamRequest,
                            caller: str) -> judge_pb2.JudgeItemResult:
        item_id = request.item.item_id
        if not item_id:
            return judge_pb2.JudgeItemResult(error=item_error(
                "INVALID_ARGUMENT", "required in a stream, to match results to items",
                "item.item_id"))
        try:
            self.admit(caller, 1)
        except ResourceExhausted as exc:
            # A stream answers an over-limit item and keeps going.
            return judge_pb2.JudgeItemResult(item_id=item_id,
                                             error=item_error("RESOURCE_EXHAUSTED", str(exc)))
        try:
            return await self.judge.judge_result(request.item, request.options, "item")
        finally:
            self.release(1)

    @grpc_errors
    async def JudgeStream(self, request_iterator: AsyncIterator[judge_pb2.JudgeStreamRequest],
                          context) -> AsyncIterator[judge_pb2.JudgeStreamResponse]:
        caller = self.caller(context)
        # Tell the caller at once that the stream is accepted (authenticated,
        # admitted), so a client may wait for this before it starts sending.
        await context.send_initial_metadata(())
        finished: asyncio.Queue = asyncio.Queue()
        # At most `stream_window` items of this stream are in flight or
        # answered and not yet sent. A permit comes back only once its result
        # is written, so a client that sends and never reads stalls its own
        # stream (the server stops reading it, and HTTP/2 flow control slows
        # the sender) instead of piling results up in this process.
        window = asyncio.Semaphore(self.stream_window)
        tasks: set[asyncio.Task] = set()
        done = object()

        async def answer(request: judge_pb2.JudgeStreamRequest) -> None:
            finished.put_nowait(await self.stream_result(request, caller))

        async def read() -> None:
            try:
                async for request in request_iterator:
                    await window.acquire()
                    task = asyncio.create_task(answer(request))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if tasks:
                    await asyncio.gather(*tasks)
            finally:
                finished.put_nowait(done)

        reader = asyncio.create_task(read())
        try:
            while (result := await finished.get()) is not done:
                yield judge_pb2.JudgeStreamResponse(result=result)
                window.release()
            await reader
        finally:
            reader.cancel()
            for task in list(tasks):
                task.cancel()

    @grpc_errors
    async def GetJudgeInfo(self, request, context) -> judge_pb2.GetJudgeInfoResponse:
        return self.judge.info()
