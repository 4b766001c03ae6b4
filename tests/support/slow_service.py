"""A real server process built with the platform's runtime whose one RPC
stands in for a slow model, so tests can send SIGTERM while a call is in
flight and see it drain.

Run as `python -m tests.support.slow_service MODE` with the usual MIS_*
variables (MIS_PORT_FILE to learn the port). The call logs "call entered" as
soon as it is inside the servicer, then, by MODE:
- `drain`: returns once the runtime has logged "draining", so its reply proves
  it was in flight during the drain;
- `hang`: never returns, as a stuck model would; the grace period must cut it.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from mis.v1 import judge_pb2, judge_pb2_grpc
from services.common.setting_groups import ServerSettings
from services.common.lifetime import stop_with_parent
from services.common.logs import configure_logging
from services.common.grpc_server import binding, serve, start_server
from services.common.settings import load_settings

log = logging.getLogger("mis.slow-service")


class DrainSeen(logging.Handler):
    """Sets `draining` when the runtime announces its drain."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.loop = loop
        self.draining = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "draining":
            self.loop.call_soon_threadsafe(self.draining.set)


class SlowJudge(judge_pb2_grpc.JudgeServiceServicer):
    def __init__(self, mode: str, drain: DrainSeen) -> None:
        self.mode = mode
        self.drain = drain

    async def Judge(self, request, context):
        log.info("call entered")
        if self.mode == "hang":
            await asyncio.Event().wait()
        await self.drain.draining.wait()
        return judge_pb2.JudgeResponse(verdict=judge_pb2.Verdict(rationale="finished after drain"))


async def run(mode: str) -> None:
    drain = DrainSeen(asyncio.get_running_loop())
    logging.getLogger().addHandler(drain)
    settings = load_settings(ServerSettings)
    running = await start_server(
        [binding(judge_pb2, "JudgeService", judge_pb2_grpc.add_JudgeServiceServicer_to_server,
                 SlowJudge(mode, drain))], settings)
    stop_with_parent(settings.parent_pid)
    await serve(running, settings.grace_seconds)


if __name__ == "__main__":
    if sys.argv[1:] not in (["drain"], ["hang"]):
        sys.exit("usage: python -m tests.support.slow_service drain|hang")
    configure_logging("slow-service")
    asyncio.run(run(sys.argv[1]))
