"""The t2i-refiner caps the work one call may ask for (pairs x draws x steps x
pixels): the default full batch fits, the per-field maxima together do not."""

from __future__ import annotations

import grpc
import pytest

from mis.v1 import t2i_refiner_pb2, t2i_refiner_pb2_grpc
from services.common.errors import InvalidArgument
from services.t2i_refiner.rendering import RenderSpec
from services.t2i_refiner.validation import ResolvedOptions, check_work
from tests.hostile.fuzz import DEADLINE_SECONDS
from tests.hostile.valid import INSTRUCTION


def options(side: int, steps: int, rounds: int) -> ResolvedOptions:
    return ResolvedOptions("offline", "offline", RenderSpec(side, side, steps, 3.5), 0, rounds, False)


def test_the_default_full_batch_fits_and_the_maxima_do_not():
    check_work(64, options(1024, 28, 1))
    with pytest.raises(InvalidArgument, match="over the limit of") as raised:
        check_work(64, options(2048, 200, 5))
    assert raised.value.field == "instructions"
    with pytest.raises(InvalidArgument):
        check_work(20, options(2048, 28, 1))


async def test_an_oversized_call_is_refused_before_any_drawing(start_service):
    refiner = start_service("t2i-refiner")
    instructions = []
    for index in range(16):
        instruction = t2i_refiner_pb2.RenderPairRequest(instruction=INSTRUCTION).instruction
        instruction.id = f"ins-{index}"
        instructions.append(instruction)
    request = t2i_refiner_pb2.RenderPairBatchRequest(
        instructions=instructions, options=t2i_refiner_pb2.RenderOptions(
            width=2048, height=2048, steps=200, refinement_rounds=5))
    async with grpc.aio.insecure_channel(refiner.address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await t2i_refiner_pb2_grpc.T2IRefinerServiceStub(channel).RenderPairBatch(
                request, timeout=DEADLINE_SECONDS)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert raised.value.details().startswith("instructions: 16 pairs at 2048x2048")
