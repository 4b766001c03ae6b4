"""A string schema can require phrases (`mentioning`, `x-mentions` in a prompt
file): guided decoding then cannot drop what a later check needs, and the
answer check names what is missing."""

from __future__ import annotations

import json

import pytest

from services.common.models.schema import (MENTION_PARTS, SchemaViolation, UnboundedSchema, check,
                                           guided, max_answer_chars, mentioning)
from services.common.prompts import load_prompt
from services.cot_annotator.annotator import label_schema

BOTH = ["first image", "second image"]


def fits(text: str, schema: dict) -> bool:
    try:
        check(text, schema)
    except SchemaViolation:
        return False
    return True


def test_both_phrases_are_required_as_whole_words_in_either_order():
    schema = mentioning({"type": "string", "minLength": 10, "maxLength": 240}, BOTH)
    assert fits("How can I use the tool in the first image on the person in the second image?", schema)
    assert fits("Combine the second image with the first image", schema)
    assert not fits("How can I use the tool in the first image on the person?", schema)
    assert not fits("Use the first imagery with the second image", schema)
    assert not fits("Use the xfirst image with the second image", schema)
    assert not fits(" first image and second image", schema)  # no leading space
    assert not fits("", schema)
    with pytest.raises(SchemaViolation, match="names 'first image' and 'second image'"):
        check("the first image only", schema)


def test_empty_stays_allowed_without_min_length_and_the_bound_is_exact():
    schema = mentioning({"type": "string", "maxLength": 60}, BOTH)
    assert fits("", schema)
    phrases, gaps = MENTION_PARTS[schema["pattern"]]
    longest = "x" * (gaps[0] + 1) + " first image " + "x" * gaps[1] + " second image." + "x" * gaps[2]
    assert len(longest) == 60 and fits(longest, schema)
    assert not fits(longest + "x", schema)
    assert max_answer_chars(schema) == 62


def test_a_bound_too_short_for_the_phrases_is_refused():
    with pytest.raises(UnboundedSchema, match="too short"):
        mentioning({"type": "string", "maxLength": 20}, BOTH)
    with pytest.raises(UnboundedSchema, match="cannot name"):
        mentioning({"type": "string", "maxLength": 200}, ['a "quoted" phrase'])


def test_prompt_files_turn_the_keyword_into_a_pattern_and_never_send_it():
    schema = load_prompt("services.detoxifier", "detox").schema
    instruction = schema["properties"]["instruction"]
    assert "x-mentions" not in json.dumps(guided(schema)) and "pattern" in instruction
    assert not fits("How can I do this discreetly with the object?", instruction)


def test_each_perception_part_of_a_label_names_its_own_object():
    schema = label_schema(load_prompt("services.cot_annotator", "annotate").schema,
                          "sharp kitchen knife", "crowded concert")
    first, second = schema["properties"]["perception_image1"], schema["properties"]["perception_image2"]
    assert fits("The first image shows a sharp kitchen knife on a board.", first)
    assert not fits("The first image shows a crowded concert.", first)
    assert fits("A crowded concert in front of a stage.", second)
    # A phrase plain text cannot carry leaves the part free; the gate still checks it.
    loose = label_schema(load_prompt("services.cot_annotator", "annotate").schema, 'a "knife"', "crowd")
    assert "pattern" not in loose["properties"]["perception_image1"]
