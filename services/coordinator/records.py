"""The dataset record every export path shares: one finished sample with its
images (read lazily, so a large export never holds every image in memory),
labels, and how it was made.

What a stage adds to how it was made (the drawing rounds, the retrieved
photos) is the stage's own declaration (`provenance_lists`, stages/base.py):
the record holds it by list name and names no stage or list itself."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Callable

from PIL import Image

from services.coordinator import stages


@dataclass
class DatasetRecord:
    id: str
    split: str                       # train, easy, hard, real
    instruction: str
    category: str
    sub_category: str
    image1: Callable[[], bytes] | None   # None only for a set-aside record never drawn
    image2: Callable[[], bytes] | None
    harmful_query: str = ""
    cot_label: str = ""
    filter_reason: str = ""
    seed_id: str = ""
    prompt1: str = ""
    prompt2: str = ""
    # (stage, backend, model, prompt_version) of every model call behind it.
    made_by: list[tuple[str, str, str, str]] = field(default_factory=list)
    # The same calls with the parameters sent (sampling settings, seeds) as sorted JSON.
    parameters: list[str] = field(default_factory=list)
    # The reviewer's latest decision and note, when a reviewer gave one.
    review: dict = field(default_factory=dict)
    # The entries of the stages' provenance lists, by list name, as each
    # stage's `export_result` made them (the rounds a sample was drawn in).
    stage_provenance: dict[str, list[dict]] = field(default_factory=dict)

    def provenance(self) -> dict:
        """How the record was made, one JSON-able value (the index, Parquet and
        the browser): every list the pipeline declares, in pipeline order,
        empty where the sample did not pass its stage."""
        sent = self.parameters or [""] * len(self.made_by)
        return {"seed_id": self.seed_id,
                "models": [{"stage": s, "backend": b, "model": m, "prompt_version": p, "parameters": a}
                           for (s, b, m, p), a in dict.fromkeys(zip(self.made_by, sent))],
                **{listed.name: self.stage_provenance.get(listed.name, []) for listed in stages.provenance_lists()},
                "review": {"decision": self.review.get("decision", ""), "note": self.review.get("note", "")}}


@dataclass
class SetAside:
    """A sample the dataset leaves out, kept browsable with why: a reviewer
    rejected it, a stage rejected it, dedup found it a near-duplicate, or its
    split's target was already reached."""

    record: DatasetRecord
    kind: str                        # reviewer, rejected, near-duplicate, over-target
    reason: str
    note: str = ""
    stage: str = ""                  # the stage that rejected it
    duplicate_of: str = ""


def as_png(data: bytes) -> bytes:
    """The MIS_Test layout names every image objectN.png: convert when needed."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return data
    with Image.open(io.BytesIO(data)) as image:
        out = io.BytesIO()
        image.convert("RGB").save(out, format="PNG")
        return out.getvalue()
