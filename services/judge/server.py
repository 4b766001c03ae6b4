"""Wiring of the judge service: settings in, server out."""

from __future__ import annotations

from mis.v1 import judge_pb2, judge_pb2_grpc
from services.common.interceptors import BearerAuthInterceptor, caller_tokens
from services.common.metrics import Metrics
from services.common.grpc_server import binding
from services.common.startup import Wiring, main as service_main
from services.judge.admission import AdmissionQueue, RateLimiter
from services.judge.config import Settings
from services.judge.judge import Judge
from services.judge.servicer import JudgeServicer


async def build(settings: Settings, metrics: Metrics) -> Wiring:
    tokens = caller_tokens(settings.judge.auth_tokens_file, "judge")
    judge = Judge.from_settings(settings, metrics, connect_store=True)
    servicer = JudgeServicer(
        judge, RateLimiter(settings.judge.rate_limit_per_second, settings.judge.rate_limit_burst),
        AdmissionQueue(settings.judge.queue_limit), tokens,
        stream_window=settings.judge.stream_window)
    # Authentication first, then admission: both answer from the metadata,
    # before grpc reads the body.
    interceptors = [*([BearerAuthInterceptor(tokens)] if tokens else []), servicer.gate()]
    return Wiring([binding(judge_pb2, "JudgeService",
                           judge_pb2_grpc.add_JudgeServiceServicer_to_server, servicer)],
                  interceptors=interceptors, closers=[judge.close])


def main() -> int:
    return service_main("judge", Settings, build)
