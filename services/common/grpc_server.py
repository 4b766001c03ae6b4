"""The gRPC server factory every service uses.

`start_server` binds the given port (0 picks a free one) and returns it, adds
the standard health and reflection services, the observability interceptor,
message-size and concurrent-call limits, the decode guard (an undecodable body
is INVALID_ARGUMENT) and optional (mutual) TLS. `serve` runs a server until
SIGTERM or SIGINT, then drains: health turns NOT_SERVING so load balancers stop
sending, new calls are refused, and calls in flight get the grace period.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.setting_groups import ServerSettings
from services.common.decoding import DecodeGuard
from services.common.interceptors import ObservabilityInterceptor
from services.common.metrics import Metrics
from services.common.tls import server_credentials

log = logging.getLogger("mis.server")


@dataclass(frozen=True)
class ServiceBinding:
    """A servicer to add: its full proto name (for health and reflection) and
    the generated `add_..._to_server` call bound to the servicer."""

    name: str
    add: Callable[[grpc.aio.Server], None]


def binding(descriptor_module, service: str, add_fn, servicer) -> ServiceBinding:
    """Build a ServiceBinding from a generated *_pb2 module and its add function."""
    full_name = descriptor_module.DESCRIPTOR.services_by_name[service].full_name
    return ServiceBinding(full_name, lambda server: add_fn(servicer, server))


@dataclass
class RunningServer:
    server: grpc.aio.Server
    port: int
    health: health.aio.HealthServicer
    service_names: list[str]
    metrics: Metrics
    metrics_port: int | None = None
    _drained: asyncio.Event = field(default_factory=asyncio.Event)

    async def set_serving(self, serving: bool) -> None:
        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        for name in ["", *self.service_names]:
            await self.health.set(name, status)

    async def drain(self, grace_seconds: float) -> None:
        """Stop taking calls and let those in flight finish within the grace period."""
        if self._drained.is_set():
            return
        self._drained.set()
        await self.set_serving(False)
        log.info("draining", extra={"grace_seconds": grace_seconds})
        await self.server.stop(grace_seconds)
        log.info("stopped")


def server_options(max_message_bytes: int) -> list[tuple[str, int]]:
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.so_reuseport", 0),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", 10_000),
    ]


async def start_server(bindings: Sequence[ServiceBinding], settings: ServerSettings, *,
                       metrics: Metrics | None = None,
                       interceptors: Sequence[grpc.aio.ServerInterceptor] = ()) -> RunningServer:
    """Start a server with `bindings` and the standard services; return it and its port."""
    metrics = metrics or Metrics()
    server = grpc.aio.server(
        # Order matters: observability sees every outcome; the service's own
        # interceptors (authentication, admission) answer from the metadata
        # before any body is read; the decode guard wraps the servicer itself.
        interceptors=[ObservabilityInterceptor(metrics), *interceptors, DecodeGuard()],
        options=server_options(settings.max_message_bytes),
        # Past this many calls in flight grpc answers RESOURCE_EXHAUSTED before
        # reading the body, so a flood costs no memory beyond the limit.
        maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
    )
    for item in bindings:
        item.add(server)
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [item.name for item in bindings]
    reflection.enable_server_reflection(
        [*names, health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
         reflection.SERVICE_NAME], server)

    address = f"{settings.host}:{settings.port}"
    credentials = server_credentials(settings.tls_cert, settings.tls_key, settings.tls_client_ca)
    port = (server.add_secure_port(address, credentials) if credentials
            else server.add_insecure_port(address))
    if port == 0:
        raise OSError(f"could not bind {address}")
    await server.start()
    running = RunningServer(server, port, health_servicer, names, metrics)
    if settings.metrics_port is not None:
        running.metrics_port = metrics.serve(settings.metrics_port, settings.host)
    await running.set_serving(True)
    log.info("serving", extra={"port": port, "services": names, "tls": credentials is not None,
                               "mtls": settings.tls_client_ca is not None,
                               "metrics_port": running.metrics_port})
    return running


def announce_port(port: int) -> None:
    """Write the bound port to MIS_PORT_FILE when set, so a parent that asked
    for port 0 (the local stack, tests) learns it without racing for ports."""
    target = os.environ.get("MIS_PORT_FILE")
    if target:
        path = Path(target)
        scratch = path.with_suffix(path.suffix + ".tmp")
        scratch.write_text(str(port))
        scratch.replace(path)


async def serve(running: RunningServer, grace_seconds: float,
                on_stop: Callable[[], object] | None = None) -> None:
    """Run until SIGTERM/SIGINT, then drain within `grace_seconds`."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    announce_port(running.port)
    waiter = asyncio.ensure_future(running.server.wait_for_termination())
    stopper = asyncio.ensure_future(stop.wait())
    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
    if on_stop is not None:
        result = on_stop()
        if asyncio.iscoroutine(result):
            await result
    await running.drain(grace_seconds)
    stopper.cancel()
    waiter.cancel()
