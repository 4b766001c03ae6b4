"""Wiring of the judge service: settings in, server out."""

from __future__ import annotations

from mis.v1 import judge_pb2, judge_pb2_grpc
from services.common.metrics import Metrics
from services.common.server import binding
from services.common.service import Wiring, main as service_main
from services.judge.config import Settings
from services.judge.servicer import JudgeServicer


async def build(settings: Settings, metrics: Metrics) -> Wiring:
    servicer = JudgeServicer()
    return Wiring([binding(judge_pb2, "JudgeService", judge_pb2_grpc.add_JudgeServiceServicer_to_server, servicer)])


def main() -> int:
    return service_main("judge", Settings, build)
