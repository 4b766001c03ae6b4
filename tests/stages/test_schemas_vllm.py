"""Integration tier: vLLM's structured-output backend enforces the bounds of
every shipped answer schema. Each schema, as the client sends it, compiles
with the installed xgrammar the way vLLM 0.32 compiles it; the longest answer
the schema allows is accepted, and one character more, one item more, a key
it did not ask for or a string with a leading space is refused. So guided decoding cannot run past the
schema's bound, which the client asks for as max_tokens."""

from __future__ import annotations

import copy
import json
import subprocess

import pytest

from services.common.models.schema import MENTION_PARTS, guided, max_answer_chars
from services.common.prompts import load_prompt
from services.common.taxonomy import load_taxonomy
from services.cot_annotator.annotator import label_schema
from services.extractor.extraction import Extraction
from services.filter.classification import Classification
from services.judge.rubric import load_rubric
from tests.support.processes import ROOT, VLLM_PYTHON

pytestmark = pytest.mark.integration

PROMPTS = [("services.detoxifier", "modify_filter"), ("services.detoxifier", "detox"),
           ("services.filter", "judge_images"), ("services.t2i_refiner", "review"),
           ("services.cot_annotator", "annotate")]
# Pattern-bound strings get a phrase of their longest shape: five words of 14 characters.
PHRASE = " ".join(["abcdefghijklmn"] * 5)


def shipped_schemas() -> dict[str, dict]:
    taxonomy = load_taxonomy()
    schemas = {name: load_prompt(package, name).schema for package, name in PROMPTS}
    schemas["extract"] = Extraction(llm=None, vlm=None, taxonomy=taxonomy, store=None).schema(taxonomy, 3)
    label = copy.deepcopy(load_prompt("services.filter", "label_text").schema)
    label["properties"]["sub_category"] = {"type": "string", "enum": taxonomy.categories["Violent"]}
    schemas["label_text"] = label
    schemas["judge"] = load_rubric("mis-judge-v1").schema
    # A label's perception parts must name their objects (one schema per pair).
    schemas["annotate_pair"] = label_schema(schemas["annotate"], "sharp kitchen knife", "young woman")
    return schemas


def longest_mentioning(pattern: str) -> str:
    """The longest text a mentioning pattern allows: every gap full."""
    phrases, gaps = MENTION_PARTS[pattern]
    text = "x" * (gaps[0] + 1) + " " + phrases[0]
    for phrase, gap in zip(phrases[1:], gaps[1:-1]):
        text += " " + "x" * gap + " " + phrase
    return text + "." + "x" * gaps[-1]


def longest(schema: dict) -> object:
    """The longest value a bounded schema allows."""
    if "enum" in schema:
        return max(schema["enum"], key=lambda option: len(json.dumps(option)))
    kind = schema["type"]
    if kind == "string":
        if schema.get("pattern") in MENTION_PARTS:
            return longest_mentioning(schema["pattern"])
        return PHRASE if "pattern" in schema else "x" * schema["maxLength"]
    if kind == "array":
        return [longest(schema["items"]) for _ in range(schema["maxItems"])]
    if kind == "object":
        return {name: longest(sub) for name, sub in schema["properties"].items()}
    return False


def first_free_text(value: object, schema: dict) -> list:
    """The path to the first free-text string in `value`."""
    if schema.get("type") == "string" and "enum" not in schema and "pattern" not in schema:
        return []
    if schema.get("type") == "object":
        for name, sub in schema["properties"].items():
            found = first_free_text(value[name], sub)
            if found is not None:
                return [name, *found]
    if schema.get("type") == "array":
        found = first_free_text(value[0], schema["items"])
        return None if found is None else [0, *found]
    return None


def string_paths(schema: dict, path: tuple = ()) -> list[tuple]:
    """Paths to every string that is not an enum."""
    if schema.get("type") == "string":
        return [] if "enum" in schema else [path]
    if schema.get("type") == "object":
        return [p for name, sub in schema["properties"].items() for p in string_paths(sub, (*path, name))]
    if schema.get("type") == "array":
        return string_paths(schema["items"], (*path, 0))
    return []


def variants(schema: dict) -> list[str]:
    """[the longest answer, then refused ones: one character more, an extra
    key, every string with a leading space, an extra item]."""
    best = longest(schema)
    compact = lambda value: json.dumps(value, separators=(",", ":"))  # noqa: E731
    over = copy.deepcopy(best)
    path = first_free_text(over, schema)
    holder = over
    for step in path[:-1]:
        holder = holder[step]
    holder[path[-1]] += "x"
    extra = {**best, "note": "x"}
    answers = [compact(best), compact(over), compact(extra)]
    for path in string_paths(schema):
        spaced = copy.deepcopy(best)
        holder = spaced
        for step in path[:-1]:
            holder = holder[step]
        holder[path[-1]] = " " + holder[path[-1]]  # no answer starts with a space
        answers.append(compact(spaced))
    if "queries" in best:
        answers.append(compact({"queries": best["queries"] + best["queries"][:1]}))
    return answers


def test_xgrammar_enforces_every_bound_of_every_shipped_schema():
    if not VLLM_PYTHON.exists():
        pytest.skip("vLLM venv missing (make setup-vllm)")
    schemas = shipped_schemas()
    cases = [{"name": name, "schema": guided(schema), "answers": variants(schema)}
             for name, schema in schemas.items()]
    done = subprocess.run([str(VLLM_PYTHON), str(ROOT / "tests" / "support" / "xgrammar_check.py")],
                          input=json.dumps({"cases": cases}), capture_output=True, text=True,
                          timeout=300, check=True)
    report = json.loads(done.stdout)
    for case in cases:
        entry = report[case["name"]]
        assert entry["compiled"], (case["name"], entry["error"])
        best, *refused = entry["accepted"]
        assert best, (case["name"], case["answers"][0])
        assert not any(refused), (case["name"], refused)
        # The accepted answer is exactly as long as the bound the client asks for.
        assert len(case["answers"][0]) == max_answer_chars(schemas[case["name"]])
