"""Client-side round robin over a stage's replicas, with re-resolution.

A stage endpoint is one or more `host:port` addresses or DNS names (`dns:///name:port`
or a plain `name:port`; a Kubernetes headless Service resolves to every ready pod).
The pool keeps one channel per resolved address and hands them out in turn, so
every replica gets work. Names are re-resolved every `resolve_seconds`: a replica
that appears starts receiving calls at the next resolution, one that disappears
is dropped. A replica whose call failed in transport is skipped for a short
cool-down, so the retry of that call (made by the pipeline) lands elsewhere: a
replica that dies mid-run costs retries, not samples.

We keep our own round robin instead of gRPC's `round_robin` policy because the
pipeline must see which replica failed (to avoid it on the retry) and tests must
see where calls went.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections import Counter
from dataclasses import dataclass
from typing import Awaitable, Callable, Sequence

import grpc

from services.common.channels import open_channel

log = logging.getLogger("mis.coordinator.replicas")

Resolver = Callable[[str, int], Awaitable[list[str]]]


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    # Literal addresses need no resolution; names are re-resolved.
    literal: bool


def parse_endpoints(endpoints: str | Sequence[str]) -> list[Endpoint]:
    """`dns:///name:port`, `host:port`, or lists of them (comma separated or repeated)."""
    if isinstance(endpoints, str):
        endpoints = [endpoints]
    parts = [p.strip() for item in endpoints for p in item.split(",") if p.strip()]
    if not parts:
        raise ValueError("no endpoint given")
    parsed = []
    for part in parts:
        text = part
        for scheme in ("dns:///", "dns:", "ipv4:", "ipv6:"):
            if text.startswith(scheme):
                text = text[len(scheme):]
                break
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit() or not host:
            raise ValueError(f"{part!r}: expected host:port or dns:///name:port")
        host = host.strip("[]")
        if host == "localhost":
            host = "127.0.0.1"  # never the IPv6 twin the services do not listen on
        try:
            ipaddress.ip_address(host)
            literal = True
        except ValueError:
            literal = False
        parsed.append(Endpoint(host, int(port), literal))
    return parsed


def format_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def resolve_dns(host: str, port: int) -> list[str]:
    """Every address a name resolves to, as host:port, in a stable order."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return sorted({format_address(info[4][0], port) for info in infos})


class ReplicaPool:
    """Channels to every replica of one stage, handed out round robin."""

    def __init__(self, endpoints: str | Sequence[str], *, deadline_seconds: float,
                 resolve_seconds: float = 5.0, cooldown_seconds: float = 2.0,
                 resolver: Resolver = resolve_dns, max_message_bytes: int = 64 * 1024 * 1024) -> None:
        self.endpoints = parse_endpoints(endpoints)
        self.deadline_seconds = deadline_seconds
        self.resolve_seconds = resolve_seconds
        self.cooldown_seconds = cooldown_seconds
        self.resolver = resolver
        self.max_message_bytes = max_message_bytes
        self.channels: dict[str, grpc.aio.Channel] = {}
        self.order: list[str] = []
        self.calls: Counter[str] = Counter()
        self._retired: list[grpc.aio.Channel] = []
        self._down_until: dict[str, float] = {}
        self._next = 0
        self._refresher: asyncio.Task | None = None

    async def start(self) -> "ReplicaPool":
        await self.refresh()
        if any(not e.literal for e in self.endpoints):
            self._refresher = asyncio.create_task(self._refresh_forever())
        return self

    async def refresh(self) -> None:
        """Resolve every endpoint and reconcile the channels with the answer."""
        found: list[str] = []
        for endpoint in self.endpoints:
            if endpoint.literal:
                found.append(format_address(endpoint.host, endpoint.port))
                continue
            try:
                found += await self.resolver(endpoint.host, endpoint.port)
            except OSError as exc:
                # Keep what we had: a DNS hiccup must not empty the pool.
                log.warning("resolving %s failed: %s", endpoint.host, exc)
                found += [a for a in self.order if a.endswith(f":{endpoint.port}")]
        found = list(dict.fromkeys(found))
        for address in found:
            if address not in self.channels:
                self.channels[address] = open_channel(
                    address, deadline_seconds=self.deadline_seconds, max_attempts=2,
                    max_message_bytes=self.max_message_bytes, call_defaults=False)
                if self.order:
                    log.info("replica added", extra={"address": address})
        for address in list(self.channels):
            if address not in found:
                # Calls in flight on it may still finish; close it with the pool.
                self._retired.append(self.channels.pop(address))
                log.info("replica removed", extra={"address": address})
        self.order = found

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(self.resolve_seconds)
            await self.refresh()

    def pick(self) -> tuple[str, grpc.aio.Channel]:
        """The next replica in turn, skipping those cooling down unless all are."""
        if not self.order:
            raise ConnectionError("no replica resolved for " +
                                  ", ".join(format_address(e.host, e.port) for e in self.endpoints))
        now = time.monotonic()
        for _ in range(len(self.order)):
            address = self.order[self._next % len(self.order)]
            self._next += 1
            if self._down_until.get(address, 0.0) <= now:
                break
        self.calls[address] += 1
        return address, self.channels[address]

    def mark_down(self, address: str) -> None:
        self._down_until[address] = time.monotonic() + self.cooldown_seconds

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
        for channel in [*self.channels.values(), *self._retired]:
            await channel.close()
        self.channels.clear()
        self._retired.clear()
