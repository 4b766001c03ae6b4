"""gRPC adapter of the filter service: map errors, delegate to the logic modules.

The unary `Classify` is the batch path with one item; an invalid item becomes
INVALID_ARGUMENT naming the field ("item.images.image1").
"""

from __future__ import annotations

import asyncio

from mis.v1 import filter_pb2, filter_pb2_grpc
from services.common.errors import grpc_errors, require
from services.common.store import AsyncStore
from services.common.stage import single_item
from services.filter.classification import Classification
from services.filter.deduplication import run_deduplicate
from services.filter.fingerprints import Thresholds
from services.filter.review import build_sheet, parse_decisions


class FilterServicer(filter_pb2_grpc.FilterServiceServicer):
    def __init__(self, classification: Classification, store: AsyncStore, *, thresholds: Thresholds,
                 max_run_items: int, link_ttl_seconds: int) -> None:
        self.classification = classification
        self.store = store
        self.thresholds = thresholds
        self.max_run_items = max_run_items
        self.link_ttl_seconds = link_ttl_seconds

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
        return await asyncio.to_thread(run_deduplicate, request, self.thresholds, self.max_run_items)

    @grpc_errors
    async def BuildReviewSheet(self, request, context):
        return await build_sheet(request, self.store.presigned_url, max_rows=self.max_run_items,
                                 default_ttl=self.link_ttl_seconds)

    @grpc_errors
    async def ParseReviewDecisions(self, request, context):
        return parse_decisions(request)
