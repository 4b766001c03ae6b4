"""A real server process built with the platform's runtime whose one RPC takes
a while, so tests can send SIGTERM while a call is in flight and see it drain.

Run as `python -m tests.support.slow_service SECONDS` with the usual MIS_*
variables (MIS_PORT_FILE to learn the port).
"""

from __future__ import annotations

import asyncio
import sys

from mis.v1 import judge_pb2, judge_pb2_grpc
from services.common.config import ServerSettings
from services.common.logs import configure_logging
from services.common.server import binding, serve, start_server
from services.common.settings import load_settings


class SlowJudge(judge_pb2_grpc.JudgeServiceServicer):
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def Judge(self, request, context):
        await asyncio.sleep(self.seconds)
        return judge_pb2.JudgeResponse(verdict=judge_pb2.Verdict(rationale="finished after drain"))


async def run(seconds: float) -> None:
    settings = load_settings(ServerSettings)
    running = await start_server(
        [binding(judge_pb2, "JudgeService", judge_pb2_grpc.add_JudgeServiceServicer_to_server,
                 SlowJudge(seconds))], settings)
    await serve(running, settings.grace_seconds)


if __name__ == "__main__":
    configure_logging("slow-service")
    asyncio.run(run(float(sys.argv[1])))
