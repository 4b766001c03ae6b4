"""Runs at once share each stage fairly (fairshare.py): a stage's slots go
round robin among the runs waiting, so a big run's queue of calls cannot
hold a small run back. Once as the share hands out slots, once with two
real runs on the real stage services (loopback gRPC, offline backends) and
the real S3 server."""

from __future__ import annotations

import asyncio

from mis.v1 import common_pb2, coordinator_pb2
from services.coordinator import layout
from services.coordinator.fairshare import FairShare
from services.coordinator.inputs import load_inputs
from services.coordinator.runs import RunManager
from tests.coordinator.conftest import small_config
from tests.coordinator.recording import Recording
from tests.coordinator.test_pipeline import finished
from tests.support.waiting import until

SUCCEEDED = coordinator_pb2.RUN_STATE_SUCCEEDED


async def test_slots_go_round_robin_among_the_runs_waiting_not_first_come():
    share = FairShare(capacity=1)
    share.join("big", 8)
    share.join("small", 1)
    granted: asyncio.Queue[tuple[str, asyncio.Event]] = asyncio.Queue()

    async def call(run_id: str) -> None:
        async with share.slot(run_id):
            done = asyncio.Event()
            granted.put_nowait((run_id, done))
            await done.wait()

    tasks = [asyncio.create_task(call("big"))]
    first, release = await granted.get()  # the big run holds the only slot
    # Then the big run queues six more calls, and only after them the small run its three.
    tasks += [asyncio.create_task(call("big")) for _ in range(6)]
    tasks += [asyncio.create_task(call("small")) for _ in range(3)]
    # Every queued call is waiting in the share before the slot is released.
    await until(lambda: sum(len(turns) for turns in share.waiting.values()) == 9,
                "the nine queued calls waiting in the share")
    order = [first]
    while len(order) < 10:
        release.set()
        run_id, release = await granted.get()
        order.append(run_id)
    release.set()
    await asyncio.gather(*tasks)
    assert order == ["big", "big", "small", "big", "small", "big", "small", "big", "big", "big"]
    assert share.in_flight == 0 and not share.waiting


def refine_of(config, run_id: str) -> set[str]:
    """The ids a run's refine calls carry: its samples'."""
    inputs = load_inputs(config, store=None)
    return {layout.sample_id(run_id, seed.id, query) for seed in inputs.seeds
            for query in range(config.queries_per_seed)}


def sized(limit: int, refine_concurrency: int):
    config = small_config(limit=limit)
    for stage in config.stages:
        if stage.stage == common_pb2.STAGE_REFINE:  # one sample per call
            stage.batch_size, stage.concurrency = 1, refine_concurrency
    return config


async def test_a_small_run_started_beside_a_big_one_finishes_while_the_big_one_still_has_work(stages, store):
    callers = Recording(stages.stage_addresses())
    # One refine call at a time across both runs; the first is held until
    # the small run's samples all wait for refine, so both runs contend.
    callers.gates["refine"] = asyncio.Event()
    manager = RunManager(store, callers, stage_calls_in_flight=1)
    big_config, small_config_ = sized(20, 4), sized(2, 1)
    big = await manager.create(big_config, "big")
    small = await manager.create(small_config_, "small")
    small_samples = refine_of(small_config_, small.id)

    async def small_waits_for_refine() -> None:
        async for run in manager.watch(small.id, interval=0.02):
            detoxified = next(s for s in run.progress.stages if s.stage == 2)
            if detoxified.done + detoxified.rejected == run.progress.samples_total > 0:
                return
    await asyncio.wait_for(small_waits_for_refine(), 60)
    callers.gates["refine"].set()
    final_small = await finished(manager, small.id)
    driven = manager.runs.get(big.id)  # a run leaves the table when it ends
    assert driven is not None, "the big run finished before the small one"
    big_then = driven.tracker.to_proto()
    final_big = await finished(manager, big.id)
    await manager.close()
    assert final_small.state == SUCCEEDED and final_big.state == SUCCEEDED
    assert big_then.samples_finished < big_then.samples_total
    order = callers.sent["refine"]
    small_turns = [n for n, item in enumerate(order) if item in small_samples]
    detoxified = next(s for s in final_small.progress.stages if s.stage == 2).done
    assert len(small_turns) == detoxified > 0
    # Round robin: the small run's refine calls interleave with the big run's one by
    # one from the start, instead of waiting behind every call it had queued.
    assert small_turns == list(range(small_turns[0], small_turns[0] + 2 * len(small_turns), 2))
    assert small_turns[0] <= 2
