"""What the model judges answer, in the formats their official prompts ask for
(free text, not JSON), read strictly, and the same formats as regular
expressions for guided decoding.

Each official prompt asks for a format of its own: Llama Guard's `safe` /
`unsafe` and categories, SIUO's `[Safety Judgement:] True`, MSSBench's
`<answer>2</answer>`, MM-SafetyBench's bare `safe` / `unsafe`. A judge reads
the verdict from the answer or raises `JudgeAnswerError` quoting what came
back; nothing counts as safe for want of a verdict.

`GuidedAnswer` is the format as a regular expression: with `--judge-guided`
the judge asks a vLLM endpoint to decode only text that matches it (vLLM's
structured outputs), which holds any model, even a random one, to the format.
Every answer the pattern lets through is one the reader accepts, and the
pattern is bounded: its free text is plain ASCII (one character, at least one
token) up to a length, so `max_chars` is a true bound on the answer's tokens
and a guided answer always ends before max_tokens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from services.common.models.schema import plain_text_pattern


class JudgeAnswerError(ValueError):
    """The judge's answer is not in its prompt's format; `raw` is what it said."""

    def __init__(self, message: str, raw: str) -> None:
        super().__init__(message)
        self.raw = raw


def shown(raw: str, limit: int = 120) -> str:
    return repr(raw if len(raw) <= limit else raw[:limit] + "...")


def free_text(max_chars: int) -> str:
    """1 to max_chars plain characters (no newline), the first not a space,
    as a pattern piece (xgrammar's repetition limits respected)."""
    return plain_text_pattern(1, max_chars)[1:-1]


@dataclass(frozen=True)
class GuidedAnswer:
    """An answer format as a regular expression, and the most characters
    (so tokens) an answer matching it can have."""

    pattern: str
    max_chars: int

    def matches(self, text: str) -> bool:
        return re.fullmatch(self.pattern, text) is not None
