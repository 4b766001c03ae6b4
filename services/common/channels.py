"""Client channels to other services: round robin over every replica, retries
of UNAVAILABLE declared in the service config, and a deadline on every call.

A target may be one `dns:///name:port` (a Kubernetes headless Service resolves
to every replica), a single `host:port`, or a list of `host:port` addresses,
which becomes an `ipv4:` target so round robin sees each of them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import grpc

from services.common.interceptors import REQUEST_ID_KEY
from services.common.logs import request_id_var
from services.common.tls import channel_credentials

DEFAULT_DEADLINE_SECONDS = 60.0


def service_config(max_attempts: int = 5) -> str:
    """Round robin plus a retry policy for UNAVAILABLE only: other codes are
    answers, not transport faults, and retrying them would repeat work. One
    attempt means no retry policy (grpc refuses one of fewer than two)."""
    method: dict = {"name": [{}]}
    if max_attempts >= 2:
        method["retryPolicy"] = {
            "maxAttempts": max_attempts,
            "initialBackoff": "0.1s",
            "maxBackoff": "2s",
            "backoffMultiplier": 2,
            "retryableStatusCodes": ["UNAVAILABLE"],
        }
    return json.dumps({"loadBalancingConfig": [{"round_robin": {}}], "methodConfig": [method]})


def target_for(endpoints: str | Sequence[str]) -> str:
    """Turn what a user configures into one gRPC target string."""
    if isinstance(endpoints, str):
        endpoints = [part.strip() for part in endpoints.split(",") if part.strip()]
    endpoints = list(endpoints)
    if not endpoints:
        raise ValueError("no endpoint given")
    if len(endpoints) == 1:
        return endpoints[0]
    if any("://" in e or e.startswith(("dns:", "ipv4:", "ipv6:", "unix:")) for e in endpoints):
        raise ValueError("a list of endpoints must be plain host:port addresses")
    hosts = [e.replace("localhost", "127.0.0.1") for e in endpoints]
    return "ipv4:" + ",".join(hosts)


def request_id_metadata() -> tuple[tuple[str, str], ...]:
    """The metadata that carries the current request id to the next service
    (empty outside a request)."""
    request_id = request_id_var.get()
    return ((REQUEST_ID_KEY, request_id),) if request_id else ()


class _Deadlines:
    """Adds the default deadline to calls made without one, and carries the
    current request id to the next service."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def details(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = grpc.aio.Metadata(*(details.metadata or ()))
        if REQUEST_ID_KEY not in metadata:
            for key, value in request_id_metadata():
                metadata.add(key, value)
        timeout = details.timeout if details.timeout is not None else self.seconds
        return grpc.aio.ClientCallDetails(details.method, timeout, metadata,
                                          details.credentials, details.wait_for_ready)


class _UnaryUnary(_Deadlines, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, details, request):
        return await continuation(self.details(details), request)


class _UnaryStream(_Deadlines, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, details, request):
        return await continuation(self.details(details), request)


class _StreamUnary(_Deadlines, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, details, request_iterator):
        return await continuation(self.details(details), request_iterator)


class _StreamStream(_Deadlines, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation, details, request_iterator):
        return await continuation(self.details(details), request_iterator)


def open_channel(endpoints: str | Sequence[str], *,
                 deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
                 max_message_bytes: int = 64 * 1024 * 1024,
                 max_attempts: int = 5,
                 tls_ca: Path | None = None, tls_cert: Path | None = None,
                 tls_key: Path | None = None, use_tls: bool = False,
                 call_defaults: bool = True) -> grpc.aio.Channel:
    """An aio channel with round robin, UNAVAILABLE retries and default deadlines.

    `call_defaults=False` leaves out the interceptors that add the default
    deadline and the request id: for a caller on a hot path that passes
    `timeout=` and `metadata=request_id_metadata()` on every call itself. An
    interceptor costs each call a task and a copy of its details: about 5%
    of the coordinator's CPU per sample, in bench/scale.py's profile."""
    options = [
        ("grpc.service_config", service_config(max_attempts)),
        ("grpc.enable_retries", 1),
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        # Re-resolve DNS soon after a replica goes away or a new one appears.
        ("grpc.dns_min_time_between_resolutions_ms", 1000),
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 2000),
        # Connections of this channel only: grpc otherwise shares them between
        # channels to the same address, and a fresh channel (CreateRun's check
        # of what each stage serves, a run's replica pool) would fail at once
        # while an older channel still backs off from a replica now back up.
        ("grpc.use_local_subchannel_pool", 1),
    ]
    interceptors = [cls(deadline_seconds) for cls in (_UnaryUnary, _UnaryStream,
                                                      _StreamUnary, _StreamStream)] if call_defaults else None
    target = target_for(endpoints)
    if use_tls or tls_ca or tls_cert:
        return grpc.aio.secure_channel(target, channel_credentials(tls_ca, tls_cert, tls_key),
                                       options=options, interceptors=interceptors)
    return grpc.aio.insecure_channel(target, options=options, interceptors=interceptors)
