"""Wiring of the judge service: settings in, server out."""

from __future__ import annotations

import logging

from mis.v1 import judge_pb2, judge_pb2_grpc
from services.common.interceptors import BearerAuthInterceptor, load_tokens
from services.common.metrics import Metrics
from services.common.server import binding
from services.common.service import Wiring, main as service_main
from services.common.settings import SettingsError
from services.judge.admission import AdmissionQueue, RateLimiter
from services.judge.config import Settings
from services.judge.judge import Judge
from services.judge.servicer import JudgeServicer

log = logging.getLogger("mis.judge")


def caller_tokens(settings: Settings) -> dict[str, str] | None:
    path = settings.judge.auth_tokens_file
    if path is None:
        log.warning("MIS_AUTH_TOKENS_FILE is unset: the judge accepts unauthenticated calls "
                    "(acceptable only on a local stack)")
        return None
    try:
        return load_tokens(path)
    except (OSError, ValueError) as exc:
        raise SettingsError(f"MIS_AUTH_TOKENS_FILE: {exc}") from None


async def build(settings: Settings, metrics: Metrics) -> Wiring:
    tokens = caller_tokens(settings)
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
