"""Wiring of the coordinator service: settings in, server out. At start it
resumes every unfinished run it finds in the store."""

from __future__ import annotations

import asyncio

from mis.v1 import coordinator_pb2, coordinator_pb2_grpc
from services.common.interceptors import BearerAuthInterceptor, caller_tokens
from services.common.metrics import Metrics
from services.common.grpc_server import binding
from services.common.startup import Wiring, main as service_main
from services.common.store import Store
from services.coordinator.callers import GrpcCallers
from services.coordinator.config import Settings
from services.coordinator.localpaths import LocalRoots
from services.coordinator.metrics import CoordinatorMetrics
from services.coordinator.runs import RunManager
from services.coordinator.servicer import CoordinatorServicer
from services.coordinator.training_rpcs import Trainings


async def build(settings: Settings, metrics: Metrics) -> Wiring:
    # It launches GPU jobs and reads and writes local paths: callers present
    # a bearer token, as the judge's do (TLS is the common MIS_TLS_* settings).
    tokens = caller_tokens(settings.auth_tokens_file, "coordinator")
    roots = LocalRoots.parse(settings.local_roots)
    store = Store.from_settings(settings.store)
    await asyncio.to_thread(store.ensure_bucket)
    trainings = Trainings.from_settings(settings.training, settings.store, store.client)
    await trainings.start()
    own_metrics = CoordinatorMetrics(metrics)
    callers = GrpcCallers(settings.addresses, settings.resolve_seconds,
                          settings.server.max_message_bytes, metrics=own_metrics)
    runs = RunManager(store, callers, resume=settings.resume, metrics=own_metrics, roots=roots,
                      checkpoint_seconds=settings.checkpoint_seconds,
                      stage_calls_in_flight=settings.stage_calls_in_flight)
    await runs.start()
    servicer = CoordinatorServicer(runs, store, trainings, roots)
    return Wiring([binding(coordinator_pb2, "CoordinatorService",
                           coordinator_pb2_grpc.add_CoordinatorServiceServicer_to_server, servicer)],
                  interceptors=[BearerAuthInterceptor(tokens)] if tokens else [],
                  closers=[runs.close, trainings.close])


def main() -> int:
    return service_main("coordinator", Settings, build)
