"""GetInfo of every stage service answers what its settings configured: the
backends a request may name (those every model of the service has), the
default, the batch limit and, for the t2i-refiner, its renderers and the
sizes they draw. Real servers, built by each service's own `build`, on
loopback."""

from __future__ import annotations

import grpc
import pytest

from mis.v1 import common_pb2
from services.coordinator.stages import PIPELINE
from tests.support.inprocess import InProcessStages

# The model endpoints each service reads its backends from.
MODELS = {"extractor": ("LLM", "VLM"), "detoxifier": ("LLM",), "t2i-refiner": ("VLM",),
          "filter": ("LLM", "VLM"), "retriever": ("LLM", "VLM"), "cot-annotator": ("VLM",)}


def openai_env(*models: str) -> dict[str, str]:
    """An OpenAI-compatible endpoint configured for `models` (nothing is called at start)."""
    env = {}
    for model in models:
        env.update({f"MIS_{model}_BACKEND": "openai", f"MIS_{model}_BASE_URL": "http://127.0.0.1:9/v1",
                    f"MIS_{model}_MODEL": "tiny"})
    return env


async def get_info(name: str, env: dict[str, str]) -> common_pb2.StageInfo:
    stage = next(s for s in PIPELINE if s.service == name)
    stages = InProcessStages()
    try:
        address = await stages.start(name, env)
        request_type = stage.info_api.request
        async with grpc.aio.insecure_channel(address) as channel:
            reply = await stage.info_api.stub(channel).GetInfo(request_type(), timeout=10)
        return reply.info
    finally:
        await stages.stop()


def test_every_stage_service_is_covered():
    assert sorted(MODELS) == sorted(stage.service for stage in PIPELINE)


@pytest.mark.parametrize("name", sorted(MODELS))
async def test_get_info_answers_what_the_settings_configured(name, store_env):
    env = {**store_env, **openai_env(*MODELS[name]), "MIS_MAX_BATCH_ITEMS": "7", "MIS_T2I_WIDTH": "320",
           "MIS_T2I_HEIGHT": "192", "MIS_T2I_STEPS": "9", "MIS_T2I_REFINEMENT_ROUNDS": "2"}
    info = await get_info(name, env)
    assert info.service == name
    assert list(info.backends) == ["offline", "openai"]
    assert info.default_backend == "openai"
    assert info.max_batch_items == 7
    if name == "t2i-refiner":
        from services.t2i_refiner.validation import (MAX_GUIDANCE, MAX_ROUNDS, MAX_SIDE, MAX_STEPS,
                                                      MAX_WORK_PIXEL_STEPS, SIDE_MULTIPLE)
        assert [(r.name, r.max_width, r.max_height, r.multiple_of, r.max_steps, r.max_guidance_scale)
                for r in info.renderers] == [
            ("offline", MAX_SIDE, MAX_SIDE, SIDE_MULTIPLE, MAX_STEPS, MAX_GUIDANCE)]
        assert info.default_renderer == "offline"
        assert info.max_refinement_rounds == MAX_ROUNDS
        # The defaults of what a request leaves at 0, from the service's settings.
        assert (info.default_width, info.default_height, info.default_steps,
                info.default_refinement_rounds) == (320, 192, 9, 2)
        assert info.max_work_pixel_steps == MAX_WORK_PIXEL_STEPS
    else:
        assert not info.renderers and not info.default_renderer and not info.max_refinement_rounds
        assert not info.max_work_pixel_steps


async def test_a_backend_only_one_model_has_is_not_served(store_env):
    # The extractor's one `backend` option picks its LLM and its VLM: openai
    # on the LLM alone is not a backend a request can name.
    info = await get_info("extractor", {**store_env, **openai_env("LLM")})
    assert list(info.backends) == ["offline"]
    assert info.default_backend == "openai"
    assert info.max_batch_items == 256  # the extractor's default MIS_MAX_BATCH_ITEMS
