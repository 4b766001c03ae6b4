"""The review state of a run, runs/<run>/review.json: every sample's latest
decision with the reviewer's note, and the dataset versions the reviews
exported. It lives in the store beside the run's other state, so it
survives a coordinator restart and nothing else needs to remember it.

    {"decisions": {"<sample id>": {"decision": "accept" | "reject", "note": "...",
                                   "reason": "REJECTION_REASON_REVIEWER", "at": "<time>"}},
     "history":   [{"version", "uri", "created_at", "accepted", "rejected", "per_split"}]}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from mis.v1 import common_pb2
from services.common.store import ObjectNotFound, Store
from services.coordinator import layout

ACCEPT, REJECT = "accept", "reject"
REVIEWER_REASON = common_pb2.RejectionReason.Name(common_pb2.REJECTION_REASON_REVIEWER)


@dataclass
class ReviewState:
    decisions: dict[str, dict] = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)

    def decide(self, sample_id: str, decision: str, note: str, at: str) -> None:
        """A later decision on the same sample replaces the earlier one (a re-import)."""
        entry = {"decision": decision, "note": note, "at": at}
        if decision == REJECT:
            entry["reason"] = REVIEWER_REASON
        self.decisions[sample_id] = entry

    def rejected(self) -> dict[str, dict]:
        return {k: v for k, v in self.decisions.items() if v["decision"] == REJECT}

    def to_json(self) -> dict:
        return {"decisions": self.decisions, "history": self.history}


def load_review(store: Store, run_id: str) -> ReviewState:
    try:
        data = store.get_json(layout.review_record(run_id))
    except ObjectNotFound:
        return ReviewState()
    return ReviewState(dict(data.get("decisions", {})), list(data.get("history", [])))


def save_review(store: Store, run_id: str, state: ReviewState) -> None:
    store.put_json(layout.review_record(run_id), state.to_json())


def card_section(state: ReviewState, dropped: Iterable = ()) -> dict:
    """What the dataset card says about the review: the accepted ids and every
    rejection with the reviewer's reason and note, and for the `dropped`
    records (those rejected) what the browser shows of them."""
    rejected = state.rejected()
    shown = {r.id: {"split": r.split, "category": r.category, "sub_category": r.sub_category,
                    "instruction": r.instruction} for r in dropped}
    return {"decided": len(state.decisions), "rejected": len(rejected),
            "accepted": sorted(k for k, v in state.decisions.items() if v["decision"] == ACCEPT),
            "rejections": [{"id": k, "reason": v["reason"], "note": v["note"], **shown.get(k, {})}
                           for k, v in sorted(rejected.items())]}
