"""The human review round trip against a real coordinator process, the real
S3 server and in-process stage services over real gRPC: the sheet with
presigned links to the run's own images, decisions applied durably (a
restart of the coordinator in between), partial sheets, re-imports, a new
dataset version per import with the earlier ones kept, and bad sheets
refused naming the row and the column."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import subprocess
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import grpc
import pytest

from mis.v1 import common_pb2, coordinator_pb2 as pb, filter_pb2
from services.common.errors import FailedPrecondition, InvalidArgument
from services.coordinator import layout
from services.coordinator.browser import write_browser
from services.coordinator.review.sheet import RunImageSigner, finished_result
from services.filter.review import review_rows
from tests.coordinator.conftest import coordinator_stub, small_config, wait_finished

CSV, JSONL = filter_pb2.SHEET_FORMAT_CSV, filter_pb2.SHEET_FORMAT_JSONL
DEADLINE = 60
CHROMIUM = "/usr/bin/chromium"


def coordinator_env(stages) -> dict[str, str]:
    addresses = stages.stage_addresses()
    from services.coordinator.stages import PIPELINE
    return {stage.address_variable: getattr(addresses, stage.module) for stage in PIPELINE}


def csv_rows(sheet: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(sheet.decode())))


def write_csv(rows: list[dict]) -> bytes:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode()


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=DEADLINE) as reply:
        return reply.read()


async def sheet(stub, run_id: str, fmt: int, ttl: int = 0) -> pb.ExportReviewSheetResponse:
    return await stub.ExportReviewSheet(pb.ExportReviewSheetRequest(run_id=run_id, format=fmt,
                                                                    link_ttl_seconds=ttl), timeout=DEADLINE)


async def apply(stub, run_id: str, data: bytes, fmt: int) -> pb.ImportReviewDecisionsResponse:
    return await stub.ImportReviewDecisions(pb.ImportReviewDecisionsRequest(run_id=run_id, sheet=data, format=fmt),
                                            timeout=DEADLINE)


async def refused(stub, run_id: str, data: bytes, fmt: int) -> str:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await apply(stub, run_id, data, fmt)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT, caught.value.details()
    return caught.value.details()


def dataset_ids(store, name: str, version: str) -> set[str]:
    text = store.get_bytes(layout.dataset_prefix(name, version) + "samples.jsonl").decode()
    return {json.loads(line)["id"] for line in text.splitlines()}


async def test_review_round_trip_survives_a_coordinator_restart(stages, start_service, store, tmp_path):
    env = coordinator_env(stages)
    coordinator = start_service("coordinator", env)
    channel, stub = coordinator_stub(coordinator.address)
    async with channel:
        await stub.CreateRun(pb.CreateRunRequest(config=small_config(limit=4), run_id="rev"), timeout=DEADLINE)
        assert (await wait_finished(stub, "rev")).state == pb.RUN_STATE_SUCCEEDED
        await stub.ExportDataset(pb.ExportDatasetRequest(run_id="rev"), timeout=DEADLINE)
        kept = [e["id"] for e in store.get_json(layout.result_record("rev"))["samples"]]
        assert len(kept) >= 3
        reply = await sheet(stub, "rev", CSV, ttl=600)
        rows = csv_rows(reply.sheet)
        assert [r["item_id"] for r in rows] == kept and reply.link_ttl_seconds == 600
        assert "X-Amz-Expires=600" in rows[0]["image1_url"]
        assert fetch(rows[0]["image1_url"]).startswith(b"\x89PNG")
        # A partial sheet: one rejection, the rest left blank.
        rows[0].update(decision="reject", note="meaningless pair")
        first = await apply(stub, "rev", write_csv(rows), CSV)
        assert (first.accepted, first.rejected, first.undecided) == (0, 1, len(kept) - 1)
        assert first.manifest.version == "rev-review-1"
        assert dataset_ids(store, "test", "rev-review-1") == set(kept[1:])
    assert coordinator.terminate() == 0

    coordinator = start_service("coordinator", env)
    channel, stub = coordinator_stub(coordinator.address)
    async with channel:
        # The decision came back from the store: the new sheet shows it.
        rows = [json.loads(line) for line in (await sheet(stub, "rev", JSONL)).sheet.decode().splitlines()]
        assert (rows[0]["decision"], rows[0]["note"]) == ("reject", "meaningless pair")
        assert all(not r["decision"] for r in rows[1:])
        # A re-import: the first is accepted after all, the second rejected.
        rows[0].update(decision="accept", note="")
        rows[1].update(decision="reject", note="no risk")
        second = await apply(stub, "rev", "".join(json.dumps(r) + "\n" for r in rows[:2]).encode(), JSONL)
        assert (second.accepted, second.rejected, second.rejected_total) == (1, 1, 1)
        assert [v.version for v in second.history] == ["rev-review-1", "rev-review-2"]
        assert [v.rejected for v in second.history] == [1, 1]
    # Every version stays in the store: the run's own export and both reviews.
    assert dataset_ids(store, "test", "rev") == set(kept)
    assert dataset_ids(store, "test", "rev-review-1") == set(kept[1:])
    assert dataset_ids(store, "test", "rev-review-2") == set(kept) - {kept[1]}
    card = json.loads(store.get_bytes(layout.dataset_prefix("test", "rev-review-2") + "card.json"))
    [rejection] = card["review"]["rejections"]
    assert (rejection["id"], rejection["reason"], rejection["note"]) == (kept[1], "REJECTION_REASON_REVIEWER",
                                                                         "no risk")
    assert rejection["instruction"] == rows[1]["instruction"]
    assert card["review"]["accepted"] == [kept[0]]
    review = store.get_json(layout.review_record("rev"))
    assert review["decisions"][kept[1]]["reason"] == "REJECTION_REASON_REVIEWER"
    assert coordinator.terminate() == 0
    browse_review_verdicts(store, tmp_path, kept, rows)


def download(store, name: str, version: str, folder: Path) -> Path:
    prefix = layout.dataset_prefix(name, version)
    for key in store.list_keys(prefix):
        path = folder / key[len(prefix):]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(store.get_bytes(key))
    return folder


def visible(dom: str, kind: str) -> list[str]:
    """Ids of the shown items of a class (`sample` or `rejected-item`) in a dumped DOM."""
    pattern = re.compile(rf'<(?:article|li) class="{kind}" data-id="([^"]+)"[^>]*?(style="display: none;")?>')
    return [m.group(1) for m in pattern.finditer(dom) if not m.group(2)]


def browse_review_verdicts(store, tmp_path: Path, kept: list[str], rows: list[dict]) -> None:
    """The browser of the reviewed version in headless Chromium: the verdict, the
    rejected item with its reason, text search and the sub-category filter."""
    folder = download(store, "test", "rev-review-2", tmp_path / "reviewed")
    page = write_browser(folder)
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
             "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}", "--allow-file-access-from-files"]

    def dom(query: str = "") -> str:
        return subprocess.run([*flags, "--dump-dom", page.as_uri() + query], capture_output=True, text=True,
                              timeout=DEADLINE, check=True).stdout

    everything = dom()
    assert set(visible(everything, "sample")) == set(kept) - {kept[1]}
    assert visible(everything, "rejected-item") == [kept[1]]
    assert "REJECTION_REASON_REVIEWER" in everything and "no risk" in everything
    assert everything.count("review: accepted") == 1
    assert visible(dom("?" + urlencode({"q": "no such words anywhere"})), "sample") == []
    assert visible(dom("?" + urlencode({"q": kept[2]})), "sample") == [kept[2]]
    sub = rows[2]["sub_category"]
    by_sub = dom("?" + urlencode({"sub": sub}))
    expected = [r["item_id"] for r in rows if r["sub_category"] == sub and r["item_id"] != kept[1]]
    assert visible(by_sub, "sample") == expected and f"{len(expected)} of " in by_sub
    assert visible(dom("?" + urlencode({"q": "no risk"})), "rejected-item") == [kept[1]]
    assert visible(dom("?" + urlencode({"q": "no risk"})), "sample") == []


async def test_bad_sheets_are_refused_naming_the_row_and_the_column(stages, start_service, store):
    coordinator = start_service("coordinator", coordinator_env(stages))
    channel, stub = coordinator_stub(coordinator.address)
    async with channel:
        await stub.CreateRun(pb.CreateRunRequest(config=small_config(limit=2), run_id="bad"), timeout=DEADLINE)
        assert (await wait_finished(stub, "bad")).state == pb.RUN_STATE_SUCCEEDED
        rows = csv_rows((await sheet(stub, "bad", CSV)).sheet)
        assert len(rows) >= 2
        rows[1]["decision"] = "maybe"
        details = await refused(stub, "bad", write_csv(rows), CSV)
        assert "row 3, column 'decision'" in details and "maybe" in details
        rows[1].update(decision="reject", item_id="s-not-in-this-run")
        details = await refused(stub, "bad", write_csv(rows), CSV)
        assert "row 3, column 'item_id'" in details and "not a sample of run bad" in details
        details = await refused(stub, "bad", b'{"item_id": "x"}\n[1]\n', JSONL)
        assert "row 2" in details
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await sheet(stub, "bad", CSV, ttl=7 * 24 * 3600)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "link_ttl_seconds" in caught.value.details()
        # Nothing was applied by a refused sheet.
        assert not store.exists(layout.review_record("bad"))
    assert coordinator.terminate() == 0


async def test_links_are_signed_only_for_the_runs_own_images(store):
    image1 = common_pb2.ImageRef(key="images/sha256/aa/" + "a" * 64 + ".png")
    image2 = common_pb2.ImageRef(key="images/sha256/bb/" + "b" * 64 + ".png")
    own = common_pb2.Sample(id="s1", instruction="look", images=common_pb2.ImagePair(image1=image1, image2=image2))
    signer = RunImageSigner(store, "r", [own])
    assert "X-Amz-Signature" in await signer(image1.key, 60)
    with pytest.raises(InvalidArgument) as caught:
        await signer("runs/r/run.json", 60)
    assert "not an image of run r" in caught.value.reason
    # The filter's own sheet builder signs store images only, never another key.
    other = common_pb2.Sample(id="s2", instruction="look", images=common_pb2.ImagePair(
        image1=common_pb2.ImageRef(key="runs/r/run.json"), image2=image2))
    with pytest.raises(InvalidArgument) as caught:
        await review_rows([other], 60, signer)
    assert caught.value.field == "samples[0].images.image1.key"


def test_only_a_finished_run_is_reviewed(store):
    running = pb.Run(id="busy", state=pb.RUN_STATE_RUNNING)
    with pytest.raises(FailedPrecondition) as caught:
        finished_result(store, running)
    assert "RUN_STATE_RUNNING" in str(caught.value) and "only a finished run" in str(caught.value)
    with pytest.raises(FailedPrecondition) as caught:
        finished_result(store, pb.Run(id="never-ran", state=pb.RUN_STATE_SUCCEEDED))
    assert "has no result yet" in str(caught.value)
