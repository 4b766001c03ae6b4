"""The human-review round trip (MIS-facts section 3.4: experts remove pairs with
no risk, meaningless pairs and duplicates).

`build_sheet` renders samples as a JSONL or CSV sheet with presigned links to
both images and empty `decision` and `note` columns for the reviewers;
`parse_decisions` reads the filled-in sheet back. Errors name the row and the
column. Text cells that a spreadsheet would run as a formula are prefixed with
an apostrophe in CSV (model text is untrusted).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any, Awaitable, Callable, Container

from mis.v1 import common_pb2, filter_pb2
from services.common.errors import InvalidArgument, require
from services.common.parsing import ParseRejected, parse_json
from services.common.store import IMAGE_PREFIX

COLUMNS = ("item_id", "decision", "note", "split", "category", "sub_category", "instruction",
           "harmful_query", "image1_url", "image2_url", "reason")
MAX_LINK_TTL_SECONDS = 7 * 24 * 3600  # the S3 limit for presigned links
_ACCEPT = {"accept", "accepted", "a", "yes", "y", "keep", "1", "true"}
_REJECT = {"reject", "rejected", "r", "no", "n", "drop", "0", "false"}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

Signer = Callable[[str, int], Awaitable[str]]


def _split_name(split: int) -> str:
    return common_pb2.Split.Name(split).removeprefix("SPLIT_").lower() if split else ""


async def review_rows(samples: list[common_pb2.Sample], ttl: int, sign: Signer) -> list[dict[str, str]]:
    rows = []
    seen: dict[str, int] = {}
    for index, sample in enumerate(samples):
        field = f"samples[{index}]"
        require(sample.id.strip(), f"{field}.id", "required, a non-empty string")
        if sample.id in seen:
            raise InvalidArgument(f"{field}.id", f"{sample.id!r} repeats samples[{seen[sample.id]}]")
        seen[sample.id] = index
        require(sample.instruction.strip(), f"{field}.instruction", "required, a non-empty string")
        for name in ("image1", "image2"):
            key = getattr(sample.images, name).key
            require(key, f"{field}.images.{name}", "required, an image in the store")
            # Only content-addressed images are signed, never another key of the bucket.
            require(key.startswith(IMAGE_PREFIX) and ".." not in key, f"{field}.images.{name}.key",
                    f"not an image of the store (expected {IMAGE_PREFIX}...)")
        rows.append({
            "item_id": sample.id, "decision": "", "note": "", "split": _split_name(sample.split),
            "category": sample.category.name, "sub_category": sample.category.sub_category,
            "instruction": sample.instruction, "harmful_query": sample.harmful_query,
            "image1_url": await sign(sample.images.image1.key, ttl),
            "image2_url": await sign(sample.images.image2.key, ttl),
            "reason": sample.filter_reason})
    return rows


def _safe_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_START) else value


def render_sheet(rows: list[dict[str, str]], fmt: int) -> bytes:
    if fmt == filter_pb2.SHEET_FORMAT_JSONL:
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode()
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: _safe_cell(value) for key, value in row.items()})
    return buffer.getvalue().encode()


async def build_sheet(request: filter_pb2.BuildReviewSheetRequest, sign: Signer, *, max_rows: int,
                      default_ttl: int) -> filter_pb2.BuildReviewSheetResponse:
    require(request.samples, "samples", "at least one sample is required")
    require(len(request.samples) <= max_rows, "samples",
            f"{len(request.samples)} samples is over the limit of {max_rows}")
    require(request.format in (filter_pb2.SHEET_FORMAT_JSONL, filter_pb2.SHEET_FORMAT_CSV), "format",
            "choose SHEET_FORMAT_JSONL or SHEET_FORMAT_CSV")
    ttl = request.link_ttl_seconds or default_ttl
    require(0 < ttl <= MAX_LINK_TTL_SECONDS, "link_ttl_seconds",
            f"must be between 1 and {MAX_LINK_TTL_SECONDS} (7 days), got {ttl}")
    rows = await review_rows(list(request.samples), ttl, sign)
    return filter_pb2.BuildReviewSheetResponse(sheet=render_sheet(rows, request.format),
                                               format=request.format, rows=len(rows))


def _decision(value: Any, row: int) -> int:
    if value is None:
        return filter_pb2.REVIEW_DECISION_UNSPECIFIED
    if not isinstance(value, str):
        raise InvalidArgument("sheet", f"row {row}, column 'decision': expected text, got {type(value).__name__}")
    word = value.strip().lower()
    if not word:
        return filter_pb2.REVIEW_DECISION_UNSPECIFIED
    if word in _ACCEPT:
        return filter_pb2.REVIEW_DECISION_ACCEPT
    if word in _REJECT:
        return filter_pb2.REVIEW_DECISION_REJECT
    raise InvalidArgument("sheet", f"row {row}, column 'decision': {value!r} is not accept or reject")


def _records(text: str, fmt: int) -> list[tuple[int, dict[str, Any]]]:
    """(row number, record) pairs; CSV rows count the header as row 1."""
    if fmt == filter_pb2.SHEET_FORMAT_JSONL:
        records = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = parse_json(line)
            except ParseRejected as exc:
                raise InvalidArgument("sheet", f"row {number}: {exc}") from None
            if not isinstance(record, dict):
                raise InvalidArgument("sheet", f"row {number}: expected a JSON object")
            records.append((number, record))
        return records
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    for column in ("item_id", "decision"):
        if column not in header:
            raise InvalidArgument("sheet", f"row 1 (header), column {column!r}: missing")
    return list(enumerate(reader, 2))


def parse_decisions(request: filter_pb2.ParseReviewDecisionsRequest, known_ids: Container[str] | None = None,
                    scope: str = "") -> filter_pb2.ParseReviewDecisionsResponse:
    """The decisions of a filled-in sheet; with `known_ids`, an item id not in
    it is refused naming its row (`scope` says what the ids belong to)."""
    require(request.sheet, "sheet", "required, the filled-in review sheet")
    require(request.format in (filter_pb2.SHEET_FORMAT_JSONL, filter_pb2.SHEET_FORMAT_CSV), "format",
            "choose SHEET_FORMAT_JSONL or SHEET_FORMAT_CSV")
    try:
        text = request.sheet.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidArgument("sheet", f"not UTF-8 text (byte {exc.start})") from None
    try:
        records = _records(text, request.format)
    except csv.Error as exc:
        raise InvalidArgument("sheet", f"not valid CSV: {exc}") from None
    decisions = []
    seen: dict[str, int] = {}
    for row, record in records:
        item_id = record.get("item_id")
        if not isinstance(item_id, str) or not item_id.strip():
            raise InvalidArgument("sheet", f"row {row}, column 'item_id': required")
        item_id = item_id.strip()
        if item_id in seen:
            raise InvalidArgument("sheet", f"row {row}, column 'item_id': {item_id!r} repeats row {seen[item_id]}")
        if known_ids is not None and item_id not in known_ids:
            raise InvalidArgument("sheet", f"row {row}, column 'item_id': {item_id!r} is not a sample of {scope}")
        seen[item_id] = row
        note = record.get("note") or ""
        if not isinstance(note, str):
            raise InvalidArgument("sheet", f"row {row}, column 'note': expected text")
        decisions.append(filter_pb2.ReviewerDecision(item_id=item_id, decision=_decision(record.get("decision"), row),
                                                     note=note.strip()))
    require(decisions, "sheet", "no rows")
    return filter_pb2.ParseReviewDecisionsResponse(decisions=decisions)
