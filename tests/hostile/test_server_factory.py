"""The server factory's own defences, on a real loopback server with only the
standard services: the decode guard covers every method (health included)
without breaking streaming handlers written with `context.write`."""

from __future__ import annotations

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.setting_groups import ServerSettings
from services.common.grpc_server import start_server
from tests.hostile.fuzz import DEADLINE_SECONDS


async def test_guarded_health_service_decodes_watches_and_refuses_garbage():
    running = await start_server([], ServerSettings(port=0))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(),
                                                              timeout=DEADLINE_SECONDS)
            first = await watch.read()
            assert first.status == health_pb2.HealthCheckResponse.SERVING
            watch.cancel()
            with pytest.raises(grpc.aio.AioRpcError) as raised:
                await channel.unary_unary("/grpc.health.v1.Health/Check")(
                    b"\xff\xff", timeout=DEADLINE_SECONDS)
            assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert raised.value.details() == ("request body: not a valid grpc.health.v1."
                                              "HealthCheckRequest message (DecodeError)")
    finally:
        await running.drain(0)
