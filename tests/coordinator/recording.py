"""Real gRPC stage callers that record what the coordinator sends, and let a
test inject faults or hold a stage's calls until it says so."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from services.coordinator import layout
from services.coordinator.callers import GrpcCallers


def item_ids(stage: str, request) -> list[str]:
    if stage == "extract":
        return ["seed-" + layout.seed_key(s.id) for s in request.seeds]
    if stage == "detoxify":
        return [q.id for q in request.queries]
    if stage == "refine":
        return [i.id for i in request.instructions]
    # Every other stage (filter, annotate, retrieve, ...) sends `items` with ids.
    return [i.id for i in getattr(request, "items", ())]


class Recording(GrpcCallers):
    """Real gRPC callers that record what was sent and can inject faults:
    `faults[stage]` is called with the item ids before each call and may raise;
    `gates[stage]` (an asyncio.Event) holds that stage's calls until it is set.
    `changed` is set after every recorded call, so tests wait for calls
    instead of guessing how long they take."""

    def __init__(self, addresses) -> None:
        super().__init__(addresses, resolve_seconds=1.0)
        self.sent: dict[str, list[str]] = defaultdict(list)
        self.requests: dict[str, list] = defaultdict(list)
        self.faults: dict = {}
        self.gates: dict[str, asyncio.Event] = {}
        self.changed = asyncio.Event()

    async def wait_for(self, condition, timeout: float = 60.0) -> None:
        """Until `condition()` holds after some recorded call; fails on timeout."""
        async def wait() -> None:
            while not condition():
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(wait(), timeout)

    async def open(self, config):
        callers, close = await super().open(config)

        def wrap(stage, call):
            async def wrapped(request):
                ids = item_ids(stage, request)
                fault = self.faults.get(stage)
                if fault is not None:
                    fault(ids)
                self.sent[stage] += ids
                self.requests[stage].append(request)
                self.changed.set()
                gate = self.gates.get(stage)
                if gate is not None:
                    await asyncio.wait_for(gate.wait(), 60)
                return await call(request)
            return wrapped
        return {stage: wrap(stage, call) for stage, call in callers.items()}, close
