"""gRPC adapter of the filter service: map errors, delegate to the logic modules.

The unary `Classify` is the batch path with one item; an invalid item becomes
INVALID_ARGUMENT naming the field ("item.images.image1").

`Deduplicate` runs in a worker thread that looks at a stop flag between
items: the flag is raised when the call's deadline passes or the client goes
away (the handler is cancelled), so abandoned work does not keep the CPU.
"""

from __future__ import annotations

import asyncio
import threading
import time

import grpc

from mis.v1 import filter_pb2, filter_pb2_grpc
from services.common.errors import grpc_errors, require
from services.common.info import stage_info
from services.common.store import AsyncStore
from services.common.model_stage import single_item
from services.filter.classification import Classification
from services.filter.deduplication import run_deduplicate
from services.filter.fingerprints import Thresholds
from services.filter.near_duplicates import Stopped
from services.filter.review import build_sheet, parse_decisions


class FilterServicer(filter_pb2_grpc.FilterServiceServicer):
    def __init__(self, classification: Classification, store: AsyncStore, *, thresholds: Thresholds,
                 max_run_items: int, link_ttl_seconds: int) -> None:
        self.classification = classification
        self.store = store
        self.thresholds = thresholds
        self.max_run_items = max_run_items
        self.link_ttl_seconds = link_ttl_seconds
        # Deduplicate calls whose worker thread has not returned yet, and how
        # many were stopped before the end (deadline passed, client gone).
        self.deduplicating: set[asyncio.Future] = set()
        self.stopped_calls = 0

    @grpc_errors
    async def ClassifyBatch(self, request, context):
        return await self.classification.batch(request)

    @grpc_errors
    async def Classify(self, request, context):
        require(request.HasField("item"), "item", "required")
        result = await single_item(self.classification.batch, filter_pb2.ClassifyBatchRequest(
            items=[request.item], options=request.options), "items", "item")
        return filter_pb2.ClassifyResponse(result=result)

    @grpc_errors
    async def Deduplicate(self, request, context):
        # Comparing a whole run is CPU work: keep the event loop free for other calls.
        stop = threading.Event()
        remaining = context.time_remaining()
        deadline = None if remaining is None else time.monotonic() + remaining

        def should_stop() -> bool:
            return stop.is_set() or (deadline is not None and time.monotonic() > deadline)
        work = asyncio.ensure_future(asyncio.to_thread(
            run_deduplicate, request, self.thresholds, self.max_run_items, should_stop))
        self.deduplicating.add(work)
        work.add_done_callback(self._deduplicated)
        try:
            return await asyncio.shield(work)
        except asyncio.CancelledError:
            stop.set()
            raise
        except Stopped:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED,
                                "deduplicate: the deadline passed before every fingerprint was compared")

    def _deduplicated(self, work: asyncio.Future) -> None:
        self.deduplicating.discard(work)
        if not work.cancelled() and isinstance(work.exception(), Stopped):
            self.stopped_calls += 1

    @grpc_errors
    async def BuildReviewSheet(self, request, context):
        return await build_sheet(request, self.store.presigned_url, max_rows=self.max_run_items,
                                 default_ttl=self.link_ttl_seconds)

    @grpc_errors
    async def ParseReviewDecisions(self, request, context):
        return parse_decisions(request)

    @grpc_errors
    async def GetInfo(self, request, context):
        classification = self.classification
        return filter_pb2.FilterServiceGetInfoResponse(info=stage_info(
            "filter", [classification.llm.models, classification.vlm.models], classification.llm.default,
            max_batch_items=classification.max_batch_items))
