"""The functions of the mis_colours lmms-eval task: one image filled with a
colour, the question with its lettered options, and the score of an answer.

The answer's option is the first of the letters a to d in it, in either case:
lenient, so that the tests' random-weight model, whose answers are noise,
scores near chance (about a quarter) rather than always zero."""

import re

from PIL import Image

OPTION_LETTER = re.compile(r"[A-Da-d]")


def doc_to_visual(doc):
    return [Image.new("RGB", (56, 56), doc["colour"])]


def doc_to_text(doc, lmms_eval_specific_kwargs=None):
    options = "\n".join(f"{letter}. {text}" for letter, text in zip("ABCD", doc["options"]))
    return f"{doc['question']}\n{options}\nAnswer with the option's letter from the given choices directly."


def chosen_letter(response):
    match = OPTION_LETTER.search(response or "")
    return match.group(0).upper() if match else ""


def process_results(doc, results):
    return {"accuracy": float(chosen_letter(results[0]) == doc["answer"])}


def overlong_text(doc, lmms_eval_specific_kwargs=None):
    """The question behind more words than the tests' model takes (4096 tokens)."""
    return "red green blue yellow " * 2000 + doc_to_text(doc)
