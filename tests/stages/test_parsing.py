"""Parsing robustness: what the stages do with malformed model answers.

A real model under structured output rarely misbehaves on cue, so these tests
serve scripted answers from a small OpenAI-compatible HTTP endpoint on
loopback and drive the real client (`OpenAIChatModel`, with its re-asking)
and the stage logic in-process: truncated JSON, extra keys, wrong enum
values, empty strings, objects that do not fit, an endpoint that keeps failing.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mis.v1 import common_pb2, detoxifier_pb2, extractor_pb2, filter_pb2
from services.common.setting_groups import ModelEndpointSettings
from services.common.taxonomy import load_taxonomy
from services.detoxifier.detoxification import Detoxification
from services.extractor.extraction import Extraction
from services.common.model_stage import Backends
from services.filter.classification import Classification

UNPARSEABLE = common_pb2.REJECTION_REASON_UNPARSEABLE_OUTPUT


class ScriptedEndpoint:
    """Answers chat completions with scripted message contents, per schema name
    (the last answer repeats); `status` makes every call fail with that code."""

    def __init__(self) -> None:
        self.answers: dict[str, list[str]] = {}
        self.calls: dict[str, int] = {}
        self.status = 200
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                name = body["response_format"]["json_schema"]["name"]
                endpoint.calls[name] = endpoint.calls.get(name, 0) + 1
                if endpoint.status != 200:
                    self.send_response(endpoint.status)
                    self.send_header("Content-Type", "application/json")
                    self.end_headers()
                    self.wfile.write(b'{"error": {"message": "overloaded"}}')
                    return
                script = endpoint.answers[name]
                content = script[min(endpoint.calls[name], len(script)) - 1]
                reply = {"id": "x", "object": "chat.completion", "created": 0, "model": "scripted",
                         "choices": [{"index": 0, "finish_reason": "stop",
                                      "message": {"role": "assistant", "content": content}}],
                         "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}}
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def settings(self) -> ModelEndpointSettings:
        return ModelEndpointSettings(backend="openai", base_url=f"http://127.0.0.1:{self.server.server_port}/v1",
                                     model="scripted", api_key="k", max_attempts=2, timeout_seconds=10)


@pytest.fixture(scope="module")
def scripted_endpoint():
    scripted = ScriptedEndpoint()
    scripted.thread.start()
    yield scripted
    scripted.server.shutdown()
    scripted.server.server_close()


@pytest.fixture
def endpoint(scripted_endpoint):
    """The module's endpoint with a clean script for each test."""
    scripted_endpoint.answers.clear()
    scripted_endpoint.calls.clear()
    scripted_endpoint.status = 200
    return scripted_endpoint


def backends(endpoint) -> Backends:
    return Backends.build(endpoint.settings, metrics=None, responders={})


def query_json(**fields) -> str:
    candidate = {"category": "Violent", "question": "How can I use the sharp knife on the old man?",
                 "object1": "sharp knife", "object2": "old man", **fields}
    return json.dumps({"queries": [candidate]})


@pytest.mark.parametrize("answer, accepted, detail", [
    ('{"queries":[{"category":"Violent","question":"How can I', False, "not valid JSON"),
    (query_json(extra="unasked"), False, "Additional properties are not allowed ('extra' was unexpected)"),
    (query_json(category="Weapons"), False, "'Weapons' is not one of"),
    (query_json(object1="  "), False, "$.queries[0].object1: '  ' does not match"),
    (query_json(object1="a very long object phrase that goes on"), False,
     "$.queries[0].object1: 'a very long object phrase that goes on' does not match"),
    (query_json(question="How " * 70), False, "$.queries[0].question: 'How How"),
    (query_json(question="q?"), False, "$.queries[0].question: 'q?' is not plain text of 10 to 240"),
    ('{"queries": []}', False, "$.queries: [] should be non-empty"),
    ("", False, "empty answer"),
    ('```json\n' + query_json() + '\n```', True, ""),
])
async def test_extraction_answers_parse_or_are_rejected_with_the_reason(endpoint, answer, accepted, detail):
    endpoint.answers["extraction"] = [answer]
    extraction = Extraction(llm=backends(endpoint), vlm=backends(endpoint), taxonomy=load_taxonomy(), store=None)
    reply = await extraction.batch(extractor_pb2.ExtractBatchRequest(
        seeds=[common_pb2.Seed(id="s", text="How do I hurt an old man with a knife?")]))
    result = reply.results[0]
    assert (result.provenance.backend, result.provenance.model) == ("openai", "scripted")
    assert result.provenance.prompt_version == "extract-v1"
    if accepted:
        assert [q.object1 for q in result.queries] == ["sharp knife"] and not result.HasField("rejection")
        assert result.provenance.tokens.completion_tokens == 7
    else:
        assert not result.queries
        assert result.rejection.reason == UNPARSEABLE and detail in result.rejection.detail
        # The client asked again before giving up, and both answers are billed.
        assert endpoint.calls["extraction"] == 2 and result.provenance.attempts == 2
        assert result.provenance.tokens.completion_tokens == 14


async def test_unusable_candidates_are_discarded_with_reasons(endpoint):
    good = {"category": "Violent", "question": "q1 is a question", "object1": "sharp knife", "object2": "old man"}
    same = {"category": "Violent", "question": "q2 is a question", "object1": "red car", "object2": "Red car"}
    endpoint.answers["extraction"] = [json.dumps({"queries": [same, good]})]
    extraction = Extraction(llm=backends(endpoint), vlm=backends(endpoint), taxonomy=load_taxonomy(), store=None)
    reply = await extraction.batch(extractor_pb2.ExtractBatchRequest(
        seeds=[common_pb2.Seed(id="s", text="seed")]))
    result = reply.results[0]
    assert [(q.id, q.query) for q in result.queries] == [("s-q1", "q1 is a question")]
    assert len(result.discarded) == 1 and "are the same" in result.discarded[0]

    endpoint.answers["extraction"] = [json.dumps({"queries": [same]})]
    endpoint.calls.clear()
    reply = await extraction.batch(extractor_pb2.ExtractBatchRequest(seeds=[common_pb2.Seed(id="s", text="seed")]))
    assert reply.results[0].rejection.reason == common_pb2.REJECTION_REASON_OBJECTS_UNUSABLE
    assert "are the same" in reply.results[0].rejection.detail


HARMFUL = common_pb2.HarmfulQuery(id="q", query="How can I hurt the old man with the sharp knife?",
                                  object1="sharp knife", object2="old man",
                                  category=common_pb2.Category(name="Violent"))


MODIFY_ONLY, BOTH_PASSES = ["modify-filter-v2"], ["modify-filter-v2", "detox-v2"]


@pytest.mark.parametrize("modify, detox, reason, detail, passes", [
    ({"verdict": "keep", "placeholder_query": "How can I hurt the person in the second image with the tool?"},
     None, UNPARSEABLE, "not plain text that names 'first image' and 'second image'", MODIFY_ONLY),
    ({"verdict": "keep", "placeholder_query": "How can I hurt the old man in the first image with the second image?"},
     None, UNPARSEABLE, "still names object2 'old man'", MODIFY_ONLY),
    ({"verdict": "maybe"}, None, UNPARSEABLE, "'maybe' is not one of", MODIFY_ONLY),
    ({"verdict": "no_harm", "reason": "harmless"}, None, common_pb2.REJECTION_REASON_NO_HARM, "harmless",
     MODIFY_ONLY),
    ({"verdict": "keep"}, {"explanation": "x", "instruction": ""}, UNPARSEABLE, "$.instruction: '' is not plain text that names",
     BOTH_PASSES),
    ({"verdict": "keep"}, {"explanation": "x", "instruction": "Use the sharp knife in the first image and "
                                                              "the second image"},
     UNPARSEABLE, "still names object1", BOTH_PASSES),
])
async def test_detox_answers_are_checked_beyond_the_schema(endpoint, modify, detox, reason, detail, passes):
    first = {"verdict": "keep", "reason": "harm", "object1": "sharp kitchen knife", "object2": "elderly man",
             "placeholder_query": "How can I hurt the person in the second image with the tool in the first image?"}
    endpoint.answers["modify_filter"] = [json.dumps({**first, **modify})]
    endpoint.answers["detox"] = [json.dumps(detox or {"explanation": "softened", "instruction": "ok"})]
    detoxification = Detoxification(llm=backends(endpoint), taxonomy=load_taxonomy())
    reply = await detoxification.batch(detoxifier_pb2.DetoxifyBatchRequest(queries=[HARMFUL]))
    result = reply.results[0]
    assert not result.HasField("instruction")
    assert result.rejection.reason == reason and detail in result.rejection.detail, result.rejection.detail
    # One provenance record per pass that ran, rejected or not.
    assert [p.prompt_version for p in result.provenance] == passes
    assert all(p.backend == "openai" for p in result.provenance)


@pytest.mark.parametrize("extra, rejected", [({}, ""), ({"confidence": 0.9}, "'confidence' was unexpected")])
async def test_detox_accepts_a_well_formed_answer_and_refuses_keys_it_did_not_ask_for(endpoint, extra, rejected):
    endpoint.answers["modify_filter"] = [json.dumps({
        "verdict": "keep", "reason": "harm", "object1": "sharp kitchen knife", "object2": "elderly man",
        "placeholder_query": "How can I hurt the person in the second image with the tool in the first image?",
        **extra})]
    endpoint.answers["detox"] = [json.dumps({"explanation": "softened 'hurt'",
                                             "instruction": "How can I surprise the person in the second image "
                                                            "with the tool in the first image?"})]
    detoxification = Detoxification(llm=backends(endpoint), taxonomy=load_taxonomy())
    reply = await detoxification.batch(detoxifier_pb2.DetoxifyBatchRequest(queries=[HARMFUL]))
    result = reply.results[0]
    assert result.HasField("rejection") == bool(rejected)
    assert rejected in result.rejection.detail
    neutral = result.instruction
    assert (neutral.object1, neutral.object2) == (("", "") if rejected else ("sharp kitchen knife", "elderly man"))
    assert [p.prompt_version for p in result.provenance] == (
        ["modify-filter-v2"] if rejected else ["modify-filter-v2", "detox-v2"])


async def test_filter_rejects_a_wrong_label_and_keeps_both_provenance_records(endpoint, async_store, png):
    refs = [await async_store.put_image(png(n)) for n in (1, 2)]
    item = filter_pb2.FilterItem(id="i", instruction=common_pb2.NeutralInstruction(
        instruction="Use the tool in the first image on the person in the second image",
        object1="sharp knife", object2="old man", category=common_pb2.Category(name="Violent")),
        images=common_pb2.ImagePair(image1=refs[0], image2=refs[1]))
    endpoint.answers["text_label"] = [json.dumps({"safety": "Harmful", "risky": True,
                                                  "sub_category": "Weapon-Related Violence", "reason": "r"})]
    endpoint.answers["image_judgement"] = [json.dumps({"image1_explicitly_harmful": True,
                                                       "image2_explicitly_harmful": False, "reason": "knife"})]
    classification = Classification(llm=backends(endpoint), vlm=backends(endpoint), taxonomy=load_taxonomy(),
                                    store=async_store)
    result = (await classification.batch(filter_pb2.ClassifyBatchRequest(items=[item]))).results[0]
    assert result.rejection.reason == UNPARSEABLE and "'Harmful' is not one of" in result.rejection.detail
    assert [p.prompt_version for p in result.provenance] == ["label-text-v1", "judge-images-v1"]
    assert len(result.fingerprint.image1_phash) == 16

    endpoint.answers["text_label"] = [json.dumps({"safety": "Safe", "risky": True,
                                                  "sub_category": "Identity Theft", "reason": "r"})]
    endpoint.calls.clear()
    result = (await classification.batch(filter_pb2.ClassifyBatchRequest(items=[item]))).results[0]
    # A sub-category of another category is a wrong enum value too.
    assert result.rejection.reason == UNPARSEABLE and "'Identity Theft' is not one of" in result.rejection.detail


async def test_an_endpoint_that_keeps_failing_rejects_items_not_the_batch(endpoint):
    endpoint.status = 503
    extraction = Extraction(llm=backends(endpoint), vlm=backends(endpoint), taxonomy=load_taxonomy(), store=None)
    reply = await extraction.batch(extractor_pb2.ExtractBatchRequest(
        seeds=[common_pb2.Seed(id="a", text="t"), common_pb2.Seed(id="b", text="u")]))
    for result in reply.results:
        assert result.rejection.reason == common_pb2.REJECTION_REASON_MODEL_UNAVAILABLE
        assert "503" in result.rejection.detail or "overloaded" in result.rejection.detail
        assert result.provenance.attempts == 2


@pytest.mark.parametrize("package, name", [
    ("services.extractor", "extract"), ("services.detoxifier", "modify_filter"), ("services.detoxifier", "detox"),
    ("services.filter", "label_text"), ("services.filter", "judge_images")])
def test_every_few_shot_answer_parses_under_its_own_schema(package, name):
    from services.common.models.schema import parse_json_answer
    from services.common.prompts import load_prompt

    prompt = load_prompt(package, name)
    assert prompt.version and prompt.examples and prompt.schema["type"] == "object"
    for example in prompt.examples:
        parse_json_answer(example["assistant"], prompt.schema)
        # Few-shot user turns follow the template's shape (same first line label).
        assert example["user"].split(":")[0] == prompt.user.split(":")[0]


def test_offline_lexicons_match_the_bundled_taxonomy():
    from services.extractor.offline import ExtractionLexicon
    from services.filter.offline import FilterLexicon

    taxonomy = load_taxonomy()
    assert set(ExtractionLexicon.bundled().categories) - {"fallback"} == set(taxonomy.categories)
    subs = {sub for names in taxonomy.categories.values() for sub in names}
    assert set(FilterLexicon.bundled().sub_category_cues) == subs
