"""Stage callers for a run: a replica pool per stage endpoint, from the run
config or, for stages it leaves empty, the coordinator's MIS_*_ADDRESS
settings; one caller per stage RPC, all derived from the pipeline's stage
declarations."""

from __future__ import annotations

from typing import Awaitable, Callable

from mis.v1 import coordinator_pb2
from services.common.errors import InvalidArgument
from services.coordinator.calls import BatchCaller, GrpcCaller
from services.coordinator.config import StageAddresses
from services.coordinator.metrics import CoordinatorMetrics
from services.coordinator.replicas import ReplicaPool, parse_endpoints
from services.coordinator.runconfig import stage_config
from services.coordinator.stages import BY_KEY, PIPELINE


class GrpcCallers:
    def __init__(self, addresses: StageAddresses, resolve_seconds: float = 5.0,
                 max_message_bytes: int = 64 * 1024 * 1024,
                 metrics: CoordinatorMetrics | None = None) -> None:
        self.addresses = addresses
        self.metrics = metrics
        self.resolve_seconds = resolve_seconds
        self.max_message_bytes = max_message_bytes

    def endpoints(self, config: coordinator_pb2.RunConfig, key: str) -> list[str]:
        stage = BY_KEY[key]
        configured = list(stage_config(config, stage).endpoints)
        found = configured or [getattr(self.addresses, stage.module)]
        found = [e for e in found if e.strip()]
        if not found:
            raise InvalidArgument(f"config.stages.{key}.endpoints",
                                  f"no endpoint given and the coordinator has no {stage.address_variable}")
        try:
            parse_endpoints(found)
        except ValueError as exc:
            raise InvalidArgument(f"config.stages.{key}.endpoints", str(exc)) from None
        return found

    def check(self, config: coordinator_pb2.RunConfig) -> None:
        for stage in PIPELINE:
            self.endpoints(config, stage.key)

    def _counter(self, key: str) -> Callable[[str], None] | None:
        if self.metrics is None:
            return None
        counter = self.metrics.replica_calls
        return lambda address: counter.labels(key, address).inc()

    async def open(self, config: coordinator_pb2.RunConfig
                   ) -> tuple[dict[str, BatchCaller], Callable[[], Awaitable[None]]]:
        pools: list[ReplicaPool] = []
        callers: dict[str, BatchCaller] = {}
        try:
            for stage in PIPELINE:
                cfg = stage_config(config, stage)
                pool = await ReplicaPool(self.endpoints(config, stage.key),
                                         deadline_seconds=cfg.timeout_seconds,
                                         resolve_seconds=self.resolve_seconds,
                                         max_message_bytes=self.max_message_bytes).start()
                pools.append(pool)
                callers[stage.key] = GrpcCaller(pool, stage.api, cfg.timeout_seconds,
                                                self._counter(stage.key))
                for name, api in stage.extra_apis.items():
                    callers[name] = GrpcCaller(pool, api, cfg.timeout_seconds)
        except BaseException:
            for pool in pools:
                await pool.close()
            raise

        async def close() -> None:
            for pool in pools:
                await pool.close()
        return callers, close
