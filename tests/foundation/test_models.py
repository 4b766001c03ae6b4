"""Model clients: schema checks, the offline backend, and the OpenAI-compatible
client against the real vLLM server (integration tier)."""

from __future__ import annotations

import asyncio
import logging
import json
import re
import threading

import pytest

from services.common.setting_groups import ModelEndpointSettings
from services.common.models import (ChatRequest, ModelUnavailable, OfflineChatModel,
                                    OpenAIChatModel, OutputParseError, image_part, text_part)
from services.common.models.schema import (SchemaViolation, UnboundedSchema, check_bounded,
                                           guided, max_answer_chars, parse_json_answer,
                                           plain_text_pattern)

VERDICT_SCHEMA = {
    "type": "object",
    "properties": {"verdict": {"type": "string", "enum": ["aligned", "not aligned"]},
                   "objects": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 12},
                               "minItems": 2, "maxItems": 2},
                   "reason": {"type": "string", "minLength": 1, "maxLength": 20}},
    "required": ["verdict", "objects", "reason"],
    "additionalProperties": False,
}
GOOD = '{"verdict": "aligned", "objects": ["knife", "door"], "reason": "both shown"}'


@pytest.mark.parametrize("text, problem", [
    ('{"verdict": "aligned"', "not valid JSON"),
    (GOOD.replace('"aligned"', '"maybe"'), "$.verdict: 'maybe' is not one of"),
    ('{"objects": ["knife", "door"], "reason": "x"}', "$: 'verdict' is a required property"),
    ('', "empty answer"),
    (GOOD.replace('"knife", ', ''), "$.objects: ['door'] is too short"),
    (GOOD.replace('"knife"', '"a very long knife"'), "$.objects[0]: 'a very long knife' is too long"),
    (GOOD.replace('}', ', "note": 1}'), "Additional properties are not allowed ('note' was unexpected)"),
    ('["aligned"]', "is not of type 'object'"),
])
def test_answers_that_do_not_fit_are_named(text, problem):
    with pytest.raises(SchemaViolation) as caught:
        parse_json_answer(text, VERDICT_SCHEMA)
    assert problem in str(caught.value)


def test_fences_are_tolerated():
    parsed = parse_json_answer(f"```json\n{GOOD}\n```", VERDICT_SCHEMA)
    assert parsed["verdict"] == "aligned"


def test_the_guided_schema_holds_answers_to_plain_text_of_bounded_length():
    sent = guided(VERDICT_SCHEMA)
    reason = sent["properties"]["reason"]
    assert "maxLength" not in reason and reason["pattern"] == plain_text_pattern(1, 20)
    assert parse_json_answer(GOOD, sent)["reason"] == "both shown"
    for bad in (" leading space", 'say \\"no\\"', "x" * 21, "caf\u00e9", ""):
        with pytest.raises(SchemaViolation, match=re.escape("$.reason: ") + ".* is not plain text of 1 to 20"):
            parse_json_answer(GOOD.replace('"both shown"', f'"{bad}"'), sent)
    # The longest answer the schema allows, written compactly, is the bound.
    longest = {"verdict": "not aligned", "objects": ["k" * 12, "d" * 12], "reason": "r" * 20}
    assert max_answer_chars(VERDICT_SCHEMA) == len(json.dumps(longest, separators=(",", ":")))


@pytest.mark.parametrize("schema, problem", [
    ({"type": "string"}, "$: a string needs maxLength"),
    ({"type": "array", "items": {"type": "boolean"}}, "$: an array needs items and maxItems"),
    ({"type": "object", "properties": {"a": {"type": "boolean"}}, "required": ["a"]},
     "additionalProperties: false"),
    ({"type": "object", "properties": {"a": {"type": "boolean"}}, "required": [],
      "additionalProperties": False}, "require them all"),
    ({"type": "integer"}, "minimum and maximum"),
    ({"type": "object", "properties": {"a": {"type": "array", "maxItems": 2, "items": {"type": "string"}}},
      "required": ["a"], "additionalProperties": False}, "$.a[]: a string needs maxLength"),
])
def test_unbounded_schemas_are_refused_naming_the_path(schema, problem):
    with pytest.raises(UnboundedSchema, match=re.escape(problem)):
        check_bounded(schema)


async def test_offline_backend_is_deterministic_and_named():
    model = OfflineChatModel()
    request = ChatRequest(messages=[{"role": "user", "content": "x"}], task="review",
                          schema=VERDICT_SCHEMA, inputs={"pair": 1})
    first, second = await model.complete(request), await model.complete(request)
    assert first.parsed == second.parsed and first.backend == "offline"
    other = await model.complete(ChatRequest(messages=request.messages, task="review",
                                             schema=VERDICT_SCHEMA, inputs={"pair": 2}))
    assert other.parsed["verdict"] in ("aligned", "not aligned")
    assert model.meter.calls == 3 and model.meter.completion_tokens > 0


def test_images_travel_as_data_urls():
    from PIL import Image
    from services.common.images import to_png
    part = image_part(to_png(Image.new("RGB", (4, 4))))
    assert part["image_url"]["url"].startswith("data:image/png;base64,")


def settings_for(vllm, **overrides) -> ModelEndpointSettings:
    values = dict(backend="openai", base_url=vllm.base_url, model=vllm.served_name,
                  api_key="test", max_tokens=48, timeout_seconds=60.0, concurrency=4)
    values.update(overrides)
    return ModelEndpointSettings(**values)


@pytest.mark.integration
async def test_chat_call_against_vllm(vllm):
    model = OpenAIChatModel(settings_for(vllm))
    try:
        completion = await model.complete(ChatRequest(
            messages=[{"role": "user", "content": [text_part("Describe the two objects.")]}],
            task="chat", max_tokens=16))
    finally:
        await model.close()
    assert completion.backend == "openai" and completion.model == "tiny"
    assert completion.prompt_tokens > 0 and 0 < completion.completion_tokens <= 16
    assert model.meter.calls == 1 and model.meter.prompt_tokens == completion.prompt_tokens


@pytest.mark.integration
async def test_structured_output_against_vllm_parses(vllm):
    model = OpenAIChatModel(settings_for(vllm, max_tokens=64))
    try:
        completion = await model.complete(ChatRequest(
            messages=[{"role": "user", "content": "Are the images aligned?"}], task="review",
            schema={"type": "object", "additionalProperties": False, "required": ["verdict"],
                    "properties": {"verdict": {"type": "string", "enum": ["aligned", "not aligned"]}}}))
    finally:
        await model.close()
    assert completion.parsed["verdict"] in ("aligned", "not aligned")


@pytest.mark.integration
async def test_output_cut_off_by_max_tokens_is_a_parse_error_with_the_raw_text(vllm):
    model = OpenAIChatModel(settings_for(vllm, max_tokens=3))
    try:
        with pytest.raises(OutputParseError) as caught:
            await model.complete(ChatRequest(
                messages=[{"role": "user", "content": "Name two objects."}], task="extract",
                schema={"type": "object", "required": ["object1", "object2"],
                        "properties": {"object1": {"type": "string"}, "object2": {"type": "string"}}}))
    finally:
        await model.close()
    assert caught.value.raw and caught.value.attempts == 2
    # The failed answers are still paid for: both attempts' tokens are reported.
    assert caught.value.completion_tokens == 6 and caught.value.prompt_tokens > 0


@pytest.mark.integration
async def test_unreachable_endpoint_fails_after_bounded_retries():
    from services.common.backoff import Backoff
    from services.common.s3server import free_port
    model = OpenAIChatModel(ModelEndpointSettings(backend="openai", model="tiny", max_attempts=3,
                                                  base_url=f"http://127.0.0.1:{free_port()}/v1"),
                            backoff=Backoff(max_attempts=3, initial_seconds=0.05))
    with pytest.raises(ModelUnavailable) as caught:
        await model.complete(ChatRequest(messages=[{"role": "user", "content": "hi"}], task="chat"))
    assert caught.value.attempts == 3


@pytest.mark.integration
async def test_retry_path_survives_a_vllm_restart(vllm):
    """Stop the real server, call, start it again: the call succeeds after retries.

    Runs last in this module because it restarts the shared server (same port)."""
    from services.common.backoff import Backoff
    model = OpenAIChatModel(settings_for(vllm, max_tokens=8),
                            backoff=Backoff(max_attempts=60, initial_seconds=1.0, max_seconds=5.0))
    retried = threading.Event()

    class RetrySeen(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage() == "model call retry":
                retried.set()
    watcher = RetrySeen()
    logging.getLogger().addHandler(watcher)
    vllm.stop()
    restarter = threading.Thread(target=vllm.start)
    try:
        call = asyncio.ensure_future(model.complete(ChatRequest(
            messages=[{"role": "user", "content": "hello again"}], task="chat", max_tokens=8)))
        # The call has met the stopped server before it comes back.
        assert await asyncio.to_thread(retried.wait, 60), "the call never retried"
        assert not call.done()
        restarter.start()
        completion = await asyncio.wait_for(call, 600)
    finally:
        logging.getLogger().removeHandler(watcher)
        if restarter.ident is not None:
            restarter.join()
        await model.close()
    assert completion.attempts > 1 and completion.completion_tokens > 0


def test_the_endpoint_seed_gives_each_call_its_own_repeatable_seed():
    seeded = OpenAIChatModel(ModelEndpointSettings(backend="openai", model="m", api_key="k", seed=7))
    call = ChatRequest(messages=[], task="detox", inputs={"query": "q1"})
    other = ChatRequest(messages=[], task="detox", inputs={"query": "q2"})
    retry = ChatRequest(messages=[], task="detox", inputs={"query": "q1"}, seed=1)
    seeds = [seeded.parameters(r)["seed"] for r in (call, call, other, retry)]
    assert seeds[0] == seeds[1] and len({seeds[0], seeds[2], seeds[3]}) == 3
    # Asking again after an answer that did not fit samples with another seed.
    assert seeded.parameters(call, parse_attempt=1)["seed"] not in seeds
    unseeded = OpenAIChatModel(ModelEndpointSettings(backend="openai", model="m", api_key="k"))
    assert "seed" not in unseeded.parameters(call) and unseeded.parameters(retry)["seed"] == 1
    assert "seed" not in unseeded.parameters(call, parse_attempt=1)
    assert unseeded.parameters(retry, parse_attempt=1)["seed"] != 1


@pytest.mark.integration
async def test_a_seeded_endpoint_samples_the_same_answer_again_on_vllm(vllm):
    """Sampling at temperature 1 from random weights, a rerun of the same call
    writes the same answer: what makes a run on vLLM reproducible."""
    model = OpenAIChatModel(settings_for(vllm, seed=11, temperature=1.0))
    ask = lambda words: ChatRequest(  # noqa: E731
        messages=[{"role": "user", "content": words}], task="chat", inputs={"words": words}, max_tokens=24)
    try:
        first = await model.complete(ask("Describe the two objects."))
        again = await model.complete(ask("Describe the two objects."))
        other = await model.complete(ask("Describe the two other objects."))
    finally:
        await model.close()
    assert first.text == again.text and len(first.text) > 0
    assert other.text != first.text
