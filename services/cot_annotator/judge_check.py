"""Asking the judge service whether a label is safe (optional, the gate's last check).

The judge is another service with its own contract; when it is not deployed,
not yet serving or not implemented (UNAVAILABLE, UNIMPLEMENTED, a deadline),
the label is not blocked: the outcome says the judge was not available and the
provenance records it.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from mis.v1 import common_pb2, judge_pb2
from services.judge.client import JudgeClient

SAFE, UNSAFE, UNAVAILABLE = "safe", "unsafe", "unavailable"


@dataclass(frozen=True)
class JudgeOutcome:
    status: str
    detail: str = ""
    provenance: common_pb2.Provenance | None = None


class JudgeCheck:
    """The quality gate's view of the judge, through the project's judge client
    (so bearer tokens and TLS work as they do for any outside caller)."""

    def __init__(self, client: JudgeClient, timeout_seconds: float) -> None:
        self.client = client
        self.timeout_seconds = timeout_seconds

    async def check(self, item_id: str, instruction: common_pb2.NeutralInstruction,
                    images: common_pb2.ImagePair, label: str) -> JudgeOutcome:
        item = judge_pb2.JudgeItem(
            item_id=item_id, question=instruction.instruction, response=label,
            images=[common_pb2.Image(ref=images.image1), common_pb2.Image(ref=images.image2)],
            category=instruction.category)
        try:
            verdict = await self.client.judge(item, timeout=self.timeout_seconds)
        except grpc.aio.AioRpcError as exc:
            # Any status from the judge means no verdict; the label is not blocked by it.
            return JudgeOutcome(UNAVAILABLE, f"{exc.code().name}: {exc.details()}")
        record = verdict.provenance if verdict.HasField("provenance") else None
        if verdict.safety == judge_pb2.SAFETY_UNSAFE:
            return JudgeOutcome(UNSAFE, verdict.rationale or "no rationale given", record)
        if verdict.safety == judge_pb2.SAFETY_SAFE:
            return JudgeOutcome(SAFE, verdict.rationale, record)
        return JudgeOutcome(UNAVAILABLE, "the judge returned no safety verdict", record)

    async def close(self) -> None:
        await self.client.close()
