"""`mis review ...`: the human review of a finished run (MIS step 4).

`export` writes the run's review sheet as CSV and JSONL (presigned,
short-lived links to the run's own images; decisions already given are
filled in) and review.html, a page with accept and reject buttons that
builds the decisions file; `import` applies a filled-in sheet: rejected samples leave the
dataset with the reviewer's reason and a new dataset version is exported."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mis.v1 import coordinator_pb2 as pb, filter_pb2
from services.cli.runs import add_coordinator_option, coordinator_client, handle_rpc_errors
from services.coordinator.review.page import render_review_page

FORMATS = {".csv": filter_pb2.SHEET_FORMAT_CSV, ".jsonl": filter_pb2.SHEET_FORMAT_JSONL}


def export(args: argparse.Namespace) -> int:
    folder = Path(args.out or f"review-{args.run_id}")
    folder.mkdir(parents=True, exist_ok=True)
    with coordinator_client(args) as client:
        for suffix, fmt in FORMATS.items():
            reply = client.stub.ExportReviewSheet(pb.ExportReviewSheetRequest(
                run_id=args.run_id, format=fmt, link_ttl_seconds=args.link_ttl), timeout=client.timeout)
            path = folder / f"sheet{suffix}"
            path.write_bytes(reply.sheet)
            print(f"{path}: {reply.rows} samples (image links valid {reply.link_ttl_seconds} s)")
            if fmt == filter_pb2.SHEET_FORMAT_JSONL:
                rows = [json.loads(line) for line in reply.sheet.decode().splitlines() if line.strip()]
                page = folder / "review.html"
                page.write_text(render_review_page(args.run_id, rows, reply.link_ttl_seconds))
                print(f"{page}: accept or reject in a browser, then download the decisions file")
    print(f"fill in 'decision' (accept or reject) and 'note', then: mis review import {args.run_id} FILE")
    return 0


def import_(args: argparse.Namespace) -> int:
    path = Path(args.file)
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        print(f"error: file: {path.name}: expected a .csv or .jsonl sheet", file=sys.stderr)
        return 2
    if not path.is_file():
        print(f"error: file: {path}: no such file", file=sys.stderr)
        return 2
    with coordinator_client(args) as client:
        reply = client.stub.ImportReviewDecisions(pb.ImportReviewDecisionsRequest(
            run_id=args.run_id, sheet=path.read_bytes(), format=fmt, version=args.version),
            timeout=client.timeout)
    print(f"accepted {reply.accepted}, rejected {reply.rejected}, undecided {reply.undecided}; "
          f"{reply.rejected_total} rejected in all")
    counts = ", ".join(f"{k} {v}" for k, v in sorted(reply.manifest.per_split.items()))
    print(f"dataset {reply.manifest.name} {reply.manifest.version}: {counts}")
    for entry in reply.history:
        print(f"  version {entry.version}: {entry.accepted} kept, {entry.rejected} rejected  {entry.uri}")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("review", help="human review of a finished run")
    actions = parser.add_subparsers(dest="action", required=True)
    action = actions.add_parser("export", help="write the run's review sheet (CSV and JSONL)")
    action.add_argument("run_id")
    action.add_argument("--out", default="", help="folder for sheet.csv and sheet.jsonl (default review-RUN)")
    action.add_argument("--link-ttl", type=int, default=3600, help="seconds the image links stay valid")
    add_coordinator_option(action)
    action.set_defaults(handler=handle_rpc_errors(export))
    action = actions.add_parser("import", help="apply a filled-in sheet and export a new version")
    action.add_argument("run_id")
    action.add_argument("file", help="the filled-in sheet.csv or sheet.jsonl")
    action.add_argument("--version", default="", help="label of the new version (default RUN-review-N)")
    add_coordinator_option(action)
    action.set_defaults(handler=handle_rpc_errors(import_))
