"""The review sheet of a finished run: one row per kept sample with
presigned, short-lived links to its two images, and the decision and note
already given, so a partly reviewed run can be picked up where it stopped.

Links are signed only for the run's own images: the signer is built from the
image keys of the run's kept samples and refuses every other key, so a sheet
can never hand out a link to another object of the bucket."""

from __future__ import annotations

import asyncio
from typing import Iterable

from mis.v1 import common_pb2, coordinator_pb2, filter_pb2
from services.common.errors import FailedPrecondition, InvalidArgument, require
from services.common.store import ObjectNotFound, Store
from services.coordinator import layout
from services.coordinator.review.state import load_review
from services.coordinator.sample import Sample
from services.filter.review import render_sheet, review_rows

DEFAULT_LINK_TTL_SECONDS = 3600
MAX_LINK_TTL_SECONDS = 24 * 3600  # short-lived: a reviewer's working day at most
FORMATS = (filter_pb2.SHEET_FORMAT_JSONL, filter_pb2.SHEET_FORMAT_CSV)


def finished_result(store: Store, run: coordinator_pb2.Run) -> dict:
    """result.json of a finished run, or FAILED_PRECONDITION saying why not."""
    if run.state != coordinator_pb2.RUN_STATE_SUCCEEDED:
        raise FailedPrecondition(f"run {run.id} is {coordinator_pb2.RunState.Name(run.state)}; "
                                 "only a finished run can be reviewed")
    try:
        return store.get_json(layout.result_record(run.id))
    except ObjectNotFound:
        raise FailedPrecondition(f"run {run.id} has no result yet") from None


def kept_samples(store: Store, run_id: str, result: dict) -> list[Sample]:
    """The run's kept samples, rebuilt from their stored outputs."""
    from services.coordinator.export import replay  # export reads the review state: no cycle at import
    from services.coordinator.outputs import StoredOutputs
    outputs = StoredOutputs(store, run_id)  # every group read once, not once per sample
    fanned: dict[str, list[Sample]] = {}
    return [replay(outputs, run_id, entry, fanned)[0] for entry in result["samples"]]


def sheet_sample(sample: Sample, run_id: str) -> common_pb2.Sample:
    classified = sample.classified
    category = classified.category if classified.category.name else sample.instruction.category
    return common_pb2.Sample(
        id=sample.id, run_id=run_id, seed_id=sample.seed_id, category=category,
        harmful_query=sample.query.query, instruction=sample.instruction.instruction,
        images=sample.pair, split=classified.split, filter_reason=classified.reason)


def _samples_and_decisions(store: Store, run: coordinator_pb2.Run) -> tuple[list[common_pb2.Sample], dict]:
    result = finished_result(store, run)
    samples = [sheet_sample(s, run.id) for s in kept_samples(store, run.id, result)]
    return samples, load_review(store, run.id).decisions


class RunImageSigner:
    """Signs links to the run's own images and nothing else."""

    def __init__(self, store: Store, run_id: str, samples: Iterable[common_pb2.Sample]) -> None:
        self.store = store
        self.run_id = run_id
        self.keys = {ref.key for s in samples for ref in (s.images.image1, s.images.image2) if ref.key}

    async def __call__(self, key: str, ttl: int) -> str:
        if key not in self.keys:
            raise InvalidArgument("key", f"{key!r} is not an image of run {self.run_id}; not signed")
        return await asyncio.to_thread(self.store.presigned_url, key, ttl)


async def build_review_sheet(store: Store, run: coordinator_pb2.Run, fmt: int,
                             ttl: int) -> coordinator_pb2.ExportReviewSheetResponse:
    require(fmt in FORMATS, "format", "choose SHEET_FORMAT_JSONL or SHEET_FORMAT_CSV")
    ttl = ttl or DEFAULT_LINK_TTL_SECONDS
    require(0 < ttl <= MAX_LINK_TTL_SECONDS, "link_ttl_seconds",
            f"must be between 1 and {MAX_LINK_TTL_SECONDS} (one day), got {ttl}")
    samples, decided = await asyncio.to_thread(_samples_and_decisions, store, run)
    require(samples, "run_id", f"run {run.id} kept no samples; there is nothing to review")
    rows = await review_rows(samples, ttl, RunImageSigner(store, run.id, samples))
    for row in rows:
        earlier = decided.get(row["item_id"])
        if earlier:
            row["decision"], row["note"] = earlier["decision"], earlier["note"]
    return coordinator_pb2.ExportReviewSheetResponse(sheet=render_sheet(rows, fmt), format=fmt,
                                                     rows=len(rows), link_ttl_seconds=ttl)
