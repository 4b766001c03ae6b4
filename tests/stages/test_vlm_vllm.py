"""Integration tier: images reach the tiny VLM on the real vLLM server. A
chat call carrying two images costs exactly the image tokens more than the
same text alone (Idefics3: four tokens per image and three markers), and
the bounded answer parses."""

from __future__ import annotations

import pytest

from services.common.setting_groups import ModelEndpointSettings
from services.common.models.schema import max_answer_chars
from services.common.models import ChatRequest, OpenAIChatModel, image_part, text_part
from tests.stages.conftest import draw_png
from tests.support.tiny_vlm import IMAGE_SEQ_LEN

pytestmark = pytest.mark.integration

SCHEMA = {"type": "object", "additionalProperties": False, "required": ["verdict", "reason"],
          "properties": {"verdict": {"type": "string", "enum": ["aligned", "not aligned"]},
                         "reason": {"type": "string", "minLength": 1, "maxLength": 40}}}


async def test_two_images_reach_the_vlm_and_the_answer_parses(vlm):
    model = OpenAIChatModel(ModelEndpointSettings(backend="openai", base_url=vlm.base_url,
                                                  model=vlm.served_name, api_key="k", timeout_seconds=300))
    text = "Do image 1 and image 2 show their objects?"
    try:
        alone = await model.complete(ChatRequest(messages=[{"role": "user", "content": [text_part(text)]}],
                                                 task="review", schema=SCHEMA))
        with_images = await model.complete(ChatRequest(
            messages=[{"role": "user", "content": [text_part(text), image_part(draw_png(1)),
                                                   image_part(draw_png(2))]}],
            task="review", schema=SCHEMA))
    finally:
        await model.close()
    # Each image: <fake_token_around_image><global-img>, its tokens, <fake_token_around_image>.
    # (plus at most a separator token or two around each placeholder).
    extra = with_images.prompt_tokens - alone.prompt_tokens
    assert 2 * (IMAGE_SEQ_LEN + 3) <= extra <= 2 * (IMAGE_SEQ_LEN + 3) + 4, extra
    assert with_images.parsed["verdict"] in ("aligned", "not aligned") and with_images.model == "tiny-vlm"
    assert with_images.completion_tokens <= with_images.parameters["max_tokens"] == max_answer_chars(SCHEMA)
