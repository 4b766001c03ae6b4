"""The store's one retry layer against the real S3 server stopped and started:
an outage shorter than the retry bound is ridden out by the write that met
it, a longer one fails the write with an error that names the key, the
attempts and the bound. The coordinator's durable writes are this same
layer with a longer bound (runs.DURABLE_STORE), not a loop around it, and
while they wait out an outage they hold no worker thread."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from services.common.backoff import Backoff
from services.common.store import AsyncStore, ObjectNotFound, Store, StoreError
from tests.support.watched_s3 import WatchedClient


def short_bound(seconds: float) -> Backoff:
    return Backoff(max_attempts=1000, initial_seconds=0.05, max_seconds=0.2, max_elapsed_seconds=seconds)


async def test_an_outage_shorter_than_the_bound_is_ridden_out_by_the_write(store, s3_server):
    watched = WatchedClient(store.client)
    durable = Store(watched, store.bucket).with_backoff(short_bound(60.0))
    await asyncio.to_thread(s3_server.stop)
    try:
        write = asyncio.create_task(asyncio.to_thread(durable.put_json, "runs/r/outage.json", {"n": 1}))
        assert await asyncio.to_thread(watched.failed.wait, 30), "the write never met the stopped store"
        assert not write.done()  # still retrying, not failed
    finally:
        await asyncio.to_thread(s3_server.start)
    await asyncio.wait_for(write, 60)
    assert store.get_json("runs/r/outage.json") == {"n": 1}


async def test_an_outage_longer_than_the_bound_fails_the_write_naming_key_attempts_and_bound(store, s3_server):
    watched = WatchedClient(store.client)
    bounded = Store(watched, store.bucket).with_backoff(short_bound(1.0))
    await asyncio.to_thread(s3_server.stop)
    try:
        with pytest.raises(StoreError) as raised:
            await asyncio.to_thread(bounded.put_json, "runs/r/lost.json", {"n": 2})
    finally:
        await asyncio.to_thread(s3_server.start)
    assert not isinstance(raised.value, ObjectNotFound)
    assert_gave_up_within_the_bound(str(raised.value), r"put runs/r/lost\.json", watched.started, 1.0)
    with pytest.raises(ObjectNotFound):
        store.get_json("runs/r/lost.json")


def assert_gave_up_within_the_bound(message: str, what: str, started: list[float], bound: float) -> None:
    """The error names the call, the attempts and the bound; the call was
    retried, and it gave up at the bound, not a multiple of it (were the
    bound ignored, these policies would retry for minutes).

    The helper keeps the bound on its own clock (tests/foundation/test_backoff.py
    proves it exactly, late wake-ups included); the moments here are taken
    where the client sends, a few calls after the helper's check, so they get
    `CHECK_TO_SEND` on top of the bound for a loaded machine. The seconds
    the message gives include the last attempt itself."""
    found = re.match(what + r": .* \(gave up after (\d+) attempts in ([\d.]+) s, the retry bound\)$",
                     message)
    assert found, message
    assert int(found[1]) == len(started) > 1
    assert started[-1] - started[0] <= bound + CHECK_TO_SEND


# Time from the helper's bound check to the client's send, allowed on a
# loaded machine (a thread waiting for the interpreter lock or a core).
CHECK_TO_SEND = 0.25


async def test_async_writes_riding_out_an_outage_leave_the_worker_threads_free(store, s3_server):
    # Four worker threads and four times as many durable writes: were each
    # write to wait out its backoff in a thread, every thread would be held
    # until the outage ended and the call below would queue behind them.
    threads = ThreadPoolExecutor(4)
    asyncio.get_running_loop().set_default_executor(threads)
    watched = WatchedClient(store.client)
    durable = AsyncStore(Store(watched, store.bucket).with_backoff(short_bound(60.0)))
    await asyncio.to_thread(s3_server.stop)
    try:
        writes = [asyncio.create_task(durable.put_json(f"runs/r/held-{n}.json", {"n": n}))
                  for n in range(16)]
        assert await asyncio.to_thread(watched.failed.wait, 30), "no write met the stopped store"
        ran = await asyncio.wait_for(asyncio.to_thread(lambda: "ran"), 30)
        assert ran == "ran"
        assert not any(write.done() for write in writes)  # all still retrying
    finally:
        await asyncio.get_running_loop().run_in_executor(None, s3_server.start)
    await asyncio.wait_for(asyncio.gather(*writes), 60)
    assert [store.get_json(f"runs/r/held-{n}.json") for n in range(16)] == [{"n": n} for n in range(16)]


async def test_an_async_call_past_the_bound_names_the_key_attempts_and_bound(store, s3_server):
    watched = WatchedClient(store.client)
    bounded = AsyncStore(Store(watched, store.bucket).with_backoff(short_bound(1.0)))
    await asyncio.to_thread(s3_server.stop)
    try:
        with pytest.raises(StoreError) as raised:
            await bounded.get_json("runs/r/unreadable.json")
    finally:
        await asyncio.to_thread(s3_server.start)
    assert not isinstance(raised.value, ObjectNotFound) and raised.value.transient
    assert_gave_up_within_the_bound(str(raised.value), r"get runs/r/unreadable\.json",
                                    watched.started, 1.0)
    # A missing object is an answer, not an outage: one attempt, no retry.
    watched.started.clear()
    with pytest.raises(ObjectNotFound) as missing:
        await bounded.get_json("runs/r/never-written.json")
    assert "gave up" not in str(missing.value) and not missing.value.transient
    assert len(watched.started) == 1
