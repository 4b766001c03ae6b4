"""The quality gate of a safety label (before the judge, which runs last).

A label fails when it is a bare refusal (nothing left once the refusal
sentences are removed), when it does not describe both images (a perception
part too short, both parts the same, or an object never named), or when it
has headings instead of plain prose. Checks are plain text rules, so every
failure comes with a reason a person can read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

REFUSAL = re.compile(
    r"\b(i\s*(?:am|'m)\s*(?:sorry|unable|not able)|i\s*(?:cannot|can\s*not|can't|won't|will not)"
    r"|(?:cannot|can't)\s+(?:help|assist|comply|provide)|as an ai\b)", re.IGNORECASE)
HEADING = re.compile(
    r"^\s*(?:#+\s|\*\*[^*]+\*\*\s*:?|(?:perception|reasoning|answer|image\s*[12]|step\s*\d+)"
    r"[^:\n]{0,20}:)", re.IGNORECASE | re.MULTILINE)
SENTENCE = re.compile(r"(?<=[.!?])\s+")
WORD = re.compile(r"[a-z0-9]+")
STOPWORDS = {"a", "an", "the", "of", "and", "or", "with", "in", "on", "for", "to", "at", "by",
             "from", "some", "its", "his", "her", "their"}
# What an answer must say beyond its refusal sentences to count as helpful.
MIN_HELPFUL_WORDS = 8
MIN_PERCEPTION_WORDS = 3


@dataclass(frozen=True)
class SafetyLabel:
    perception_image1: str
    perception_image2: str
    reasoning: str
    answer: str

    def prose(self) -> str:
        """The plain-prose label the trainer uses: perception, reasoning, answer."""
        perception = f"{self.perception_image1.strip()} {self.perception_image2.strip()}"
        return "\n\n".join([perception, self.reasoning.strip(), self.answer.strip()])


def words(text: str) -> list[str]:
    return WORD.findall(text.lower())


def stem(word: str) -> str:
    """A crude singular form, enough to match "knives" with "knife" or "glasses" with "glass"."""
    if len(word) > 4 and word.endswith("ies"):
        word = word[:-3] + "y"
    elif len(word) > 4 and word.endswith("ves"):
        word = word[:-3] + "f"
    elif word.endswith(("sses", "xes", "zes", "ches", "shes")):
        word = word[:-2]
    elif len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    return word[:-2] + "f" if word.endswith("fe") else word


def mentions(text: str, phrase: str) -> bool:
    """Whether `text` names the object: any content word of the phrase, plural or not."""
    content = {stem(w) for w in words(phrase) if w not in STOPWORDS and len(w) >= 3}
    if not content:
        content = {stem(w) for w in words(phrase)}
    return bool(content & {stem(w) for w in words(text)})


def is_bare_refusal(answer: str) -> bool:
    helpful = [s for s in SENTENCE.split(answer.strip()) if s and not REFUSAL.search(s)]
    return sum(len(words(s)) for s in helpful) < MIN_HELPFUL_WORDS


def gate_failures(label: SafetyLabel, object1: str, object2: str) -> list[str]:
    """Why the label fails the gate; empty when it passes."""
    failures = []
    prose = label.prose()
    if HEADING.search(prose):
        failures.append("the label has headings or labelled sections instead of plain prose")
    if is_bare_refusal(label.answer):
        failures.append("the answer is a bare refusal with nothing safe or helpful in it")
    for slot, perception, phrase in ((1, label.perception_image1, object1),
                                     (2, label.perception_image2, object2)):
        if len(words(perception)) < MIN_PERCEPTION_WORDS:
            failures.append(f"image {slot} is not described")
        elif not mentions(perception, phrase) and not mentions(prose, phrase):
            failures.append(f"the label never names the object of image {slot} ({phrase!r})")
    if words(label.perception_image1) == words(label.perception_image2):
        failures.append("both images are given the same description")
    return failures
