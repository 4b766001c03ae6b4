"""The start-up story every service's `server.py` tells in a few lines:
read settings (fail fast), configure JSON logs, build the servicers, start the
server, serve until SIGTERM, drain, close what was opened."""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Sequence

import grpc

from services.common.setting_groups import ServerSettings
from services.common.lifetime import stop_with_parent
from services.common.logs import configure_logging
from services.common.metrics import Metrics
from services.common.grpc_server import ServiceBinding, serve, start_server
from services.common.settings import SettingsError, describe, load_settings

log = logging.getLogger("mis.service")


@dataclass
class Wiring:
    """What a service's build step returns."""

    bindings: Sequence[ServiceBinding]
    interceptors: Sequence[grpc.aio.ServerInterceptor] = ()
    # Awaited after the drain, e.g. closing model clients.
    closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)


def secret_values(settings: Any) -> list[str]:
    """Secret setting values, so the log filter can mask them wherever they appear."""
    import dataclasses

    found: list[str] = []
    for item in dataclasses.fields(settings):
        value = getattr(settings, item.name)
        if "group" in item.metadata:
            found += secret_values(value)
        elif item.metadata.get("secret") and isinstance(value, str):
            found.append(value)
    return found


def server_settings_of(settings: Any) -> ServerSettings:
    if isinstance(settings, ServerSettings):
        return settings
    return settings.server


async def run_service(name: str, settings: Any,
                      build: Callable[[Any, Metrics], Awaitable[Wiring]]) -> None:
    server_settings = server_settings_of(settings)
    metrics = Metrics()
    wiring = await build(settings, metrics)
    running = await start_server(wiring.bindings, server_settings, metrics=metrics,
                                 interceptors=wiring.interceptors)
    stop_with_parent(server_settings.parent_pid)
    try:
        await serve(running, server_settings.grace_seconds)
    finally:
        for close in wiring.closers:
            await close()


def main(name: str, settings_cls: type, build: Callable[[Any, Metrics], Awaitable[Wiring]],
         argv: Sequence[str] | None = None) -> int:
    """Process entry point for `mis serve <name>`; returns the exit code."""
    try:
        settings = load_settings(settings_cls)
    except SettingsError as exc:
        print(f"{name}: bad configuration: {exc}", file=sys.stderr)
        return 2
    server_settings = server_settings_of(settings)
    configure_logging(name, server_settings.log_level, secrets=secret_values(settings))
    log.info("starting", extra={"settings": describe(settings)})
    try:
        asyncio.run(run_service(name, settings, build))
    except SettingsError as exc:
        print(f"{name}: bad configuration: {exc}", file=sys.stderr)
        return 2
    return 0
