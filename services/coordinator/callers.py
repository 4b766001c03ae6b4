"""How the coordinator calls its stages: per run, a replica pool per stage
endpoint (from the run config or, for stages it leaves empty, the
coordinator's MIS_*_ADDRESS settings) and one caller per stage RPC, all
derived from the stage declarations; per call, one batch RPC on the next
replica, with its deadline.

Transient faults (a replica gone, a deadline, an overloaded service, an
aborted call) are raised as `TransientStageError`; the pipeline retries
them with backoff. Anything else, INTERNAL and UNKNOWN included (a bug in a
stage does not heal by asking again), is the stage's answer and is not
retried.

Before a run starts, `describe` asks every replica of each stage it uses
what it serves (GetInfo), so the run is checked against the services
themselves and refused before any model is called.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Protocol

import grpc

from mis.v1 import common_pb2, coordinator_pb2
from services.common.channels import request_id_metadata
from services.common.errors import InvalidArgument, Unavailable
from services.coordinator.config import StageAddresses
from services.coordinator.metrics import CoordinatorMetrics
from services.coordinator.replicas import ReplicaPool, parse_endpoints
from services.coordinator.runconfig import stage_config
from services.coordinator.stages import BY_KEY, PIPELINE
from services.coordinator.stages.base import PipelineStage, StageApi, StageCallError, TransientStageError

log = logging.getLogger("mis.coordinator.callers")

# The one list of codes worth another try, for whole calls and for item errors alike.
RETRYABLE_CODES = frozenset({grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                             grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.ABORTED})
RETRYABLE_ITEM_CODES = frozenset(code.name for code in RETRYABLE_CODES)
# A call cut off because the replica's connection went away: that replica is
# down, and the call is retried on another one.
_REPLICA_GONE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED}


class BatchCaller(Protocol):
    async def __call__(self, request: Any) -> Any: ...


class GrpcCaller:
    """Calls one method on the next replica of a pool; transport faults mark
    that replica down and surface as TransientStageError."""

    def __init__(self, pool: ReplicaPool, api: StageApi, timeout_seconds: float,
                 on_pick: Callable[[str], None] | None = None) -> None:
        self.pool = pool
        self.api = api
        self.timeout_seconds = timeout_seconds
        self.on_pick = on_pick
        self._stubs: dict[str, Any] = {}

    async def __call__(self, request: Any) -> Any:
        try:
            address, channel = self.pool.pick()
        except ConnectionError as exc:
            raise TransientStageError(str(exc)) from exc
        if self.on_pick is not None:
            self.on_pick(address)
        stub = self._stubs.get(address)
        if stub is None or stub[0] is not channel:
            stub = self._stubs[address] = (channel, self.api.stub(channel))
        method = getattr(stub[1], self.api.method)
        try:
            return await method(request, timeout=self.timeout_seconds, metadata=request_id_metadata())
        except grpc.aio.AioRpcError as exc:
            reason = f"{address}: {exc.code().name}: {exc.details()}"
            if exc.code() in _REPLICA_GONE:
                self.pool.mark_down(address)
            if exc.code() in RETRYABLE_CODES or exc.code() in _REPLICA_GONE:
                raise TransientStageError(reason) from exc
            raise StageCallError(reason) from exc


# GetInfo is answered from settings: a replica that takes longer is as good as down.
INFO_TIMEOUT_SECONDS = 10.0

ServedInfo = dict[str, list[tuple[str, common_pb2.StageInfo]]]


class GrpcCallers:
    def __init__(self, addresses: StageAddresses, resolve_seconds: float = 5.0,
                 max_message_bytes: int = 64 * 1024 * 1024,
                 metrics: CoordinatorMetrics | None = None,
                 info_timeout_seconds: float = INFO_TIMEOUT_SECONDS) -> None:
        self.addresses = addresses
        self.metrics = metrics
        self.resolve_seconds = resolve_seconds
        self.max_message_bytes = max_message_bytes
        self.info_timeout_seconds = info_timeout_seconds

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
            if stage.used(config):
                self.endpoints(config, stage.key)

    async def describe(self, config: coordinator_pb2.RunConfig) -> ServedInfo:
        """What each stage the run uses serves: per stage key, the GetInfo
        answer of every replica that gave one. Unavailable when a stage has
        no replica that answers (try again later); a replica too old to have
        GetInfo leaves its stage unchecked."""
        used = [stage for stage in PIPELINE if stage.used(config)]
        answers = await asyncio.gather(*(self._describe(config, stage) for stage in used),
                                       return_exceptions=True)
        for answer in answers:
            if isinstance(answer, BaseException) and not isinstance(answer, Unavailable):
                raise answer
        down = [str(answer) for answer in answers if isinstance(answer, Unavailable)]
        if down:  # every stage that is down, in pipeline order
            raise Unavailable("; ".join(down) + "; the run was not created, try again when they are up")
        return {stage.key: found for stage, found in zip(used, answers)}

    async def _describe(self, config: coordinator_pb2.RunConfig, stage: PipelineStage
                        ) -> list[tuple[str, common_pb2.StageInfo]]:
        api = stage.info_api
        pool = await ReplicaPool(self.endpoints(config, stage.key),
                                 deadline_seconds=self.info_timeout_seconds,
                                 resolve_seconds=self.resolve_seconds,
                                 max_message_bytes=self.max_message_bytes).start()
        try:
            addresses = list(pool.order)
            replies = await asyncio.gather(
                *(getattr(api.stub(pool.channels[address]), api.method)(
                    api.request(), timeout=self.info_timeout_seconds, metadata=request_id_metadata())
                  for address in addresses),
                return_exceptions=True)
        finally:
            await pool.close()
        found, failures, answered = [], [], False
        for address, reply in zip(addresses, replies):
            if isinstance(reply, grpc.aio.AioRpcError):
                if reply.code() == grpc.StatusCode.UNIMPLEMENTED:
                    answered = True
                    log.warning("stage has no GetInfo; its options go unchecked",
                                extra={"stage": stage.key, "address": address})
                else:
                    failures.append(f"{address}: {reply.code().name}: {reply.details()}")
                continue
            if isinstance(reply, BaseException):
                raise reply
            found.append((address, getattr(reply, api.result_field)))
        if not found and not answered:
            where = "; ".join(failures) or "no replica resolved for " + ", ".join(
                self.endpoints(config, stage.key))
            raise Unavailable(f"{stage.service} (stage {stage.key}) did not say what it serves ({where})")
        return found

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
            for stage in (s for s in PIPELINE if s.used(config)):  # a stage the run skips needs no service
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
