"""Applying a filled-in review sheet to a run: the decisions join the run's
review state in the store first (so they are durable before anything else
happens), then a new dataset version is exported without the rejected
samples and added to the run's review history. Earlier versions stay in the
store untouched. Rows without a decision leave their sample as it was, so
partial sheets and re-imports compose: the latest decision on a sample wins.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import datetime, timezone

from google.protobuf import json_format

from mis.v1 import coordinator_pb2, filter_pb2
from services.common.errors import InvalidArgument, require
from services.common.store import Store
from services.coordinator.review.sheet import FORMATS, finished_result
from services.coordinator.review.state import ACCEPT, REJECT, load_review, save_review
from services.filter.review import parse_decisions

_WORDS = {filter_pb2.REVIEW_DECISION_ACCEPT: ACCEPT, filter_pb2.REVIEW_DECISION_REJECT: REJECT}


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def _apply(store: Store, run: coordinator_pb2.Run, request: coordinator_pb2.ImportReviewDecisionsRequest
           ) -> coordinator_pb2.ImportReviewDecisionsResponse:
    from services.coordinator.export import export_run, label  # export reads the review state
    result = finished_result(store, run)
    known = {entry["id"] for entry in result["samples"]}
    parsed = parse_decisions(filter_pb2.ParseReviewDecisionsRequest(sheet=request.sheet, format=request.format),
                             known_ids=known, scope=f"run {run.id}").decisions
    state = load_review(store, run.id)
    version = label(request.version, "version") if request.version else f"{run.id}-review-{len(state.history) + 1}"
    if version == run.id or any(v["version"] == version for v in state.history):
        raise InvalidArgument("version", f"{version!r} is already a version of run {run.id}; "
                                         "versions are kept, choose a new label")
    at = _now()
    counts = {ACCEPT: 0, REJECT: 0}
    for decision in parsed:
        word = _WORDS.get(decision.decision)
        if word is not None:
            state.decide(decision.item_id, word, decision.note, at)
            counts[word] += 1
    save_review(store, run.id, state)  # durable before the export, which reads it
    manifest = export_run(store, run, version)
    state.history.append({"version": manifest.version, "uri": manifest.uri, "created_at": at,
                          "accepted": len(known) - len(state.rejected().keys() & known),
                          "rejected": len(state.rejected().keys() & known),
                          "per_split": dict(manifest.per_split)})
    save_review(store, run.id, state)
    return coordinator_pb2.ImportReviewDecisionsResponse(
        accepted=counts[ACCEPT], rejected=counts[REJECT], undecided=len(parsed) - sum(counts.values()),
        rejected_total=len(state.rejected().keys() & known), manifest=manifest,
        history=[json_format.ParseDict(v, coordinator_pb2.ReviewVersion()) for v in state.history])


class Reviews:
    """The review RPCs' logic; one import at a time per run, so two sheets
    applied at once cannot lose each other's decisions."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.locks: dict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def apply(self, run: coordinator_pb2.Run, request: coordinator_pb2.ImportReviewDecisionsRequest
                    ) -> coordinator_pb2.ImportReviewDecisionsResponse:
        require(request.format in FORMATS, "format", "choose SHEET_FORMAT_JSONL or SHEET_FORMAT_CSV")
        async with self.locks[run.id]:
            return await asyncio.to_thread(_apply, self.store, run, request)
