"""The stage services' own servers, built by their own `build`, started in
this process on loopback ports: real gRPC without a process start per
service, for benchmarks and tests that need many short-lived stacks (the
coordinator itself never runs stages in its own process)."""

from __future__ import annotations

import importlib
from typing import Mapping

from services.common.setting_groups import ServerSettings
from services.common.metrics import Metrics
from services.common.grpc_server import RunningServer, start_server
from services.common.settings import load_settings
from services.coordinator.config import StageAddresses
from services.coordinator.stages import PIPELINE
from services.registry import SERVICES

STAGE_SERVICES = tuple(stage.service for stage in PIPELINE)


class InProcessStages:
    def __init__(self) -> None:
        self.running: list[RunningServer] = []
        self.closers: list = []
        self.addresses: dict[str, str] = {}

    async def start(self, name: str, env: Mapping[str, str]) -> str:
        """Start one service configured by `env` (its MIS_* variables); return its address."""
        server_module = importlib.import_module(SERVICES[name])
        config_module = importlib.import_module(SERVICES[name].rsplit(".", 1)[0] + ".config")
        settings = load_settings(config_module.Settings, dict(env))
        wiring = await server_module.build(settings, Metrics())
        running = await start_server(wiring.bindings, ServerSettings(port=0), metrics=Metrics(),
                                     interceptors=wiring.interceptors)
        self.running.append(running)
        self.closers += wiring.closers
        self.addresses[name] = f"127.0.0.1:{running.port}"
        return self.addresses[name]

    async def start_all(self, env: Mapping[str, str]) -> "InProcessStages":
        for name in STAGE_SERVICES:
            await self.start(name, env)
        return self

    def stage_addresses(self) -> StageAddresses:
        return StageAddresses(**{stage.module: self.addresses[stage.service]
                                 for stage in PIPELINE if stage.service in self.addresses})

    async def stop(self) -> None:
        for running in self.running:
            await running.server.stop(0)
        for close in self.closers:
            await close()
