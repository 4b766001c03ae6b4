"""Deduplicate over real gRPC on loopback, with the servicer in this process
so the test can see its worker threads: a whole run of identical
fingerprints answers within its deadline, and a call whose deadline passes
stops its work instead of burning the CPU after the client gave up."""

from __future__ import annotations

import asyncio
import random

import grpc
import pytest

from mis.v1 import filter_pb2, filter_pb2_grpc
from services.common.setting_groups import ServerSettings
from services.common.metrics import Metrics
from services.common.grpc_server import binding, start_server
from services.common.settings import load_settings
from services.filter.config import Settings
from services.filter.fingerprints import Thresholds
from services.filter.server import build_classification
from services.filter.servicer import FilterServicer


@pytest.fixture
async def filter_stub(store_env, async_store):
    settings = load_settings(Settings, dict(store_env))
    classification = build_classification(settings, async_store)
    servicer = FilterServicer(classification, async_store, thresholds=Thresholds(),
                              max_run_items=200_000, link_ttl_seconds=60)
    running = await start_server(
        [binding(filter_pb2, "FilterService", filter_pb2_grpc.add_FilterServiceServicer_to_server, servicer)],
        ServerSettings(port=0), metrics=Metrics())
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}",
                                        options=[("grpc.max_send_message_length", 64 << 20)])
    yield filter_pb2_grpc.FilterServiceStub(channel), servicer
    await channel.close()
    await running.server.stop(0)
    await classification.llm.close()
    await classification.vlm.close()


async def test_thirty_thousand_identical_fingerprints_answer_within_the_deadline(filter_stub):
    stub, servicer = filter_stub
    copies = [filter_pb2.Fingerprint(item_id=f"c{n}", instruction_text="pour the chemical into the bottle",
                                     image1_phash="0123456789abcdef", image2_phash="fedcba9876543210")
              for n in range(30_000)]
    reply = await stub.Deduplicate(filter_pb2.DeduplicateRequest(fingerprints=copies), timeout=30)
    assert len(reply.duplicates) == 29_999
    assert {d.duplicate_of for d in reply.duplicates} == {"c0"}
    assert servicer.stopped_calls == 0


async def test_a_call_past_its_deadline_stops_its_work(filter_stub):
    stub, servicer = filter_stub
    rng = random.Random(1)
    words = [f"w{n}" for n in range(60)]
    # A low threshold has no safe banding, so every pair is compared: minutes of work.
    heavy = [filter_pb2.Fingerprint(item_id=f"h{n}", instruction_text=" ".join(rng.sample(words, 8)))
             for n in range(40_000)]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.Deduplicate(filter_pb2.DeduplicateRequest(fingerprints=heavy, min_text_similarity=0.05),
                               timeout=1.0)
    assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    # The worker thread ends because it was told to stop, not because it finished.
    await asyncio.gather(*servicer.deduplicating, return_exceptions=True)
    assert servicer.stopped_calls == 1
    assert not servicer.deduplicating
