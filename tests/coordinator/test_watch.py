"""`CoordinatorClient.watch` against the real coordinator servicer over gRPC: each
WatchRun stream has a deadline, and a watch outlives it by opening the next one."""

from __future__ import annotations

import asyncio
import threading

import grpc

from mis.v1 import coordinator_pb2, coordinator_pb2_grpc
from services.coordinator.client import CoordinatorClient
from services.coordinator.runs import RunManager
from services.coordinator.servicer import CoordinatorServicer
from tests.coordinator.conftest import small_config
from tests.coordinator.recording import Recording


class WatchCalls(grpc.aio.ServerInterceptor):
    """Counts the WatchRun streams the server was asked for; `opened` fires on each."""

    def __init__(self) -> None:
        self.count = 0
        self.opened = threading.Event()

    async def intercept_service(self, continuation, details):
        if details.method.endswith("/WatchRun"):
            self.count += 1
            self.opened.set()
        return await continuation(details)


async def test_a_watch_outlives_its_stream_deadline_and_sees_the_end(stages, store):
    callers = Recording(stages.stage_addresses())
    callers.gates["annotate"] = asyncio.Event()  # the run stays RUNNING until released
    manager = RunManager(store, callers)
    await manager.start()
    calls = WatchCalls()
    server = grpc.aio.server(interceptors=[calls])
    coordinator_pb2_grpc.add_CoordinatorServiceServicer_to_server(
        CoordinatorServicer(manager, store, trainings=None), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        run = await manager.create(small_config(limit=4), "watched")
        client = CoordinatorClient(f"127.0.0.1:{port}", timeout_seconds=30, watch_window_seconds=0.5)
        watching = asyncio.create_task(asyncio.to_thread(lambda: list(client.watch(run.id))))
        # Release the run only once the first stream has expired and a second was
        # opened; a watch that gave up at the first deadline ends (with its error) first.
        while calls.count < 2 and not watching.done():
            calls.opened.clear()
            opened = asyncio.create_task(asyncio.to_thread(calls.opened.wait, 60))
            await asyncio.wait({opened, watching}, return_when=asyncio.FIRST_COMPLETED)
        calls.opened.set()  # frees a waiting thread either way
        callers.gates["annotate"].set()
        snapshots = await asyncio.wait_for(watching, 120)
        client.close()
    finally:
        await server.stop(None)
        await manager.close()
    assert calls.count >= 2
    assert snapshots[0].state == coordinator_pb2.RUN_STATE_RUNNING
    assert snapshots[-1].state == coordinator_pb2.RUN_STATE_SUCCEEDED


async def test_a_watch_of_an_unknown_run_is_an_error_not_a_retry(stages, store):
    manager = RunManager(store, Recording(stages.stage_addresses()))
    await manager.start()
    server = grpc.aio.server()
    coordinator_pb2_grpc.add_CoordinatorServiceServicer_to_server(
        CoordinatorServicer(manager, store, trainings=None), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        client = CoordinatorClient(f"127.0.0.1:{port}", timeout_seconds=30, watch_window_seconds=0.5)
        try:
            await asyncio.to_thread(lambda: list(client.watch("no-such-run")))
        except grpc.RpcError as error:
            code = error.code()
        else:
            code = None
        client.close()
    finally:
        await server.stop(None)
        await manager.close()
    assert code == grpc.StatusCode.NOT_FOUND
