"""Stage callers for a run: a replica pool per stage endpoint, from the run
config or, for stages it leaves empty, the coordinator's MIS_*_ADDRESS
settings; or in-process logic objects (benchmarks, tests)."""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from mis.v1 import coordinator_pb2
from services.common.errors import InvalidArgument
from services.coordinator.config import StageAddresses
from services.coordinator.metrics import CoordinatorMetrics
from services.coordinator.replicas import ReplicaPool, parse_endpoints
from services.coordinator.runconfig import PIPELINE, stage_config
from services.coordinator.stages import APIS, BatchCaller, GrpcCaller, InProcessCaller

ADDRESS_FIELDS = {"extract": ("extractor", "MIS_EXTRACTOR_ADDRESS"),
                  "detoxify": ("detoxifier", "MIS_DETOXIFIER_ADDRESS"),
                  "render": ("t2i_refiner", "MIS_T2I_REFINER_ADDRESS"),
                  "filter": ("filter", "MIS_FILTER_ADDRESS"),
                  "annotate": ("cot_annotator", "MIS_COT_ANNOTATOR_ADDRESS")}


class GrpcCallers:
    def __init__(self, addresses: StageAddresses, resolve_seconds: float = 5.0,
                 max_message_bytes: int = 64 * 1024 * 1024,
                 metrics: CoordinatorMetrics | None = None) -> None:
        self.addresses = addresses
        self.metrics = metrics
        self.resolve_seconds = resolve_seconds
        self.max_message_bytes = max_message_bytes

    def endpoints(self, config: coordinator_pb2.RunConfig, key: str) -> list[str]:
        info = next(i for i in PIPELINE if i.key == key)
        configured = list(stage_config(config, info).endpoints)
        attribute, variable = ADDRESS_FIELDS[key]
        found = configured or [getattr(self.addresses, attribute)]
        found = [e for e in found if e.strip()]
        if not found:
            raise InvalidArgument(f"config.stages.{key}.endpoints",
                                  f"no endpoint given and the coordinator has no {variable}")
        try:
            parse_endpoints(found)
        except ValueError as exc:
            raise InvalidArgument(f"config.stages.{key}.endpoints", str(exc)) from None
        return found

    def check(self, config: coordinator_pb2.RunConfig) -> None:
        for info in PIPELINE:
            self.endpoints(config, info.key)

    async def open(self, config: coordinator_pb2.RunConfig
                   ) -> tuple[dict[str, BatchCaller], Callable[[], Awaitable[None]]]:
        pools: list[ReplicaPool] = []
        callers: dict[str, BatchCaller] = {}
        try:
            for info in PIPELINE:
                cfg = stage_config(config, info)
                pool = await ReplicaPool(self.endpoints(config, info.key),
                                         deadline_seconds=cfg.timeout_seconds,
                                         resolve_seconds=self.resolve_seconds,
                                         max_message_bytes=self.max_message_bytes).start()
                pools.append(pool)
                on_pick = None
                if self.metrics is not None:
                    counter = self.metrics.replica_calls
                    on_pick = (lambda key: lambda address: counter.labels(key, address).inc())(info.key)
                callers[info.key] = GrpcCaller(pool, APIS[info.key], cfg.timeout_seconds, on_pick)
                if info.key == "filter":
                    callers["dedup"] = GrpcCaller(pool, APIS["dedup"], cfg.timeout_seconds)
        except BaseException:
            for pool in pools:
                await pool.close()
            raise

        async def close() -> None:
            for pool in pools:
                await pool.close()
        return callers, close


class InProcessCallers:
    """Logic objects called directly: {"extract": obj, ...} with `batch(request)`,
    and the filter's `deduplicate(request)` for "dedup"."""

    def __init__(self, logic: dict[str, Any]) -> None:
        self.logic = logic

    def check(self, config: coordinator_pb2.RunConfig) -> None:
        return None

    async def open(self, config: coordinator_pb2.RunConfig
                   ) -> tuple[dict[str, BatchCaller], Callable[[], Awaitable[None]]]:
        callers: dict[str, BatchCaller] = {key: InProcessCaller(self.logic[key].batch)
                                           for key in ADDRESS_FIELDS}
        callers["dedup"] = InProcessCaller(self.logic["dedup"])

        async def close() -> None:
            return None
        return callers, close
