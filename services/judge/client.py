"""The Python client library of the judge service.

    async with JudgeClient("judge.example:443", token=TOKEN, tls=True) as judge:
        verdict = await judge.judge(judge_item("q1", question, [img1, img2], response))

Calls carry the bearer token as `authorization` metadata and a deadline; the
channel retries UNAVAILABLE only. Errors arrive as `grpc.aio.AioRpcError`
with the contract's status codes (INVALID_ARGUMENT naming the field,
RESOURCE_EXHAUSTED when over the rate or the queue, UNAUTHENTICATED).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import AsyncIterable, AsyncIterator, Iterable, Sequence

import grpc

from mis.v1 import common_pb2, judge_pb2, judge_pb2_grpc
from services.common.channels import open_channel


def judge_item(item_id: str, question: str, images: Sequence[bytes | common_pb2.ImageRef],
               response: str, category: str = "", sub_category: str = "") -> judge_pb2.JudgeItem:
    """Build a JudgeItem from image bytes and/or store references."""
    parts = [common_pb2.Image(ref=image) if isinstance(image, common_pb2.ImageRef)
             else common_pb2.Image(data=bytes(image)) for image in images]
    return judge_pb2.JudgeItem(item_id=item_id, question=question, images=parts, response=response,
                               category=common_pb2.Category(name=category,
                                                            sub_category=sub_category))


class JudgeClient:
    def __init__(self, address: str, *, token: str | None = None, tls: bool = False,
                 ca: Path | None = None, cert: Path | None = None, key: Path | None = None,
                 deadline_seconds: float = 300.0,
                 max_message_bytes: int = 64 * 1024 * 1024) -> None:
        self.channel = open_channel(address, deadline_seconds=deadline_seconds,
                                    max_message_bytes=max_message_bytes, tls_ca=ca, tls_cert=cert,
                                    tls_key=key, use_tls=tls)
        self.stub = judge_pb2_grpc.JudgeServiceStub(self.channel)
        self.metadata = (("authorization", f"Bearer {token}"),) if token else ()

    @staticmethod
    def options(backend: str = "", bypass_cache: bool = False) -> judge_pb2.JudgeOptions:
        return judge_pb2.JudgeOptions(backend=backend, bypass_cache=bypass_cache)

    async def info(self) -> judge_pb2.GetJudgeInfoResponse:
        return await self.stub.GetJudgeInfo(judge_pb2.GetJudgeInfoRequest(),
                                            metadata=self.metadata)

    async def judge(self, item: judge_pb2.JudgeItem, *, backend: str = "",
                    bypass_cache: bool = False, timeout: float | None = None) -> judge_pb2.Verdict:
        reply = await self.stub.Judge(
            judge_pb2.JudgeRequest(item=item, options=self.options(backend, bypass_cache)),
            metadata=self.metadata, timeout=timeout)
        return reply.verdict

    async def judge_batch(self, items: Sequence[judge_pb2.JudgeItem], *, backend: str = "",
                          bypass_cache: bool = False,
                          timeout: float | None = None) -> list[judge_pb2.JudgeItemResult]:
        reply = await self.stub.JudgeBatch(
            judge_pb2.JudgeBatchRequest(items=list(items),
                                        options=self.options(backend, bypass_cache)),
            metadata=self.metadata, timeout=timeout)
        return list(reply.results)

    async def judge_stream(self, items: Iterable[judge_pb2.JudgeItem] | AsyncIterable[judge_pb2.JudgeItem],
                           *, backend: str = "", bypass_cache: bool = False,
                           timeout: float | None = None) -> AsyncIterator[judge_pb2.JudgeItemResult]:
        """Results as they finish (not in order): match them by item_id."""
        options = self.options(backend, bypass_cache)
        call = self.stub.JudgeStream(metadata=self.metadata, timeout=timeout)
        # Send only once the server has accepted the stream: writing into a call
        # the server refused (UNAUTHENTICATED, say) can mask its status.
        await call.initial_metadata()

        async def send() -> None:
            try:
                if hasattr(items, "__aiter__"):
                    async for item in items:
                        await call.write(judge_pb2.JudgeStreamRequest(item=item, options=options))
                else:
                    for item in items:
                        await call.write(judge_pb2.JudgeStreamRequest(item=item, options=options))
                await call.done_writing()
            except grpc.aio.AioRpcError:
                return  # the call ended early; reading below raises its status

        sender = asyncio.create_task(send())
        try:
            while (reply := await call.read()) is not grpc.aio.EOF:
                yield reply.result
            await sender
        finally:
            sender.cancel()

    async def close(self) -> None:
        await self.channel.close()

    async def __aenter__(self) -> "JudgeClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()
