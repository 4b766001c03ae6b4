"""`mis review export` and `mis review import` as a reviewer runs them: the
CLI as a real process against a real coordinator process, the real S3 server
and the stage services over real gRPC."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mis.v1 import coordinator_pb2 as pb
from tests.coordinator.conftest import SERVICE_ENV, coordinator_stub, small_config, wait_finished
from tests.support.chromium import Page
from tests.support.inprocess import InProcessStages
from services.coordinator.stages import PIPELINE

ROOT = Path(__file__).resolve().parents[2]


def mis(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MIS_COORDINATOR_ADDRESS", "MIS_STACK_WORKDIR")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "services.cli.main", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.fixture
async def stages(store_env):
    started = await InProcessStages().start_all({**SERVICE_ENV, **store_env})
    yield started
    await started.stop()


async def test_review_export_then_import_from_the_command_line(stages, start_service, tmp_path):
    addresses = stages.stage_addresses()
    coordinator = start_service("coordinator", {s.address_variable: getattr(addresses, s.module)
                                                for s in PIPELINE})
    channel, stub = coordinator_stub(coordinator.address)
    async with channel:
        await stub.CreateRun(pb.CreateRunRequest(config=small_config(limit=2), run_id="cli"), timeout=60)
        assert (await wait_finished(stub, "cli")).state == pb.RUN_STATE_SUCCEEDED
    flag = ["--coordinator", coordinator.address]
    exported = mis("review", "export", "cli", "--out", "sheets", "--link-ttl", "900", *flag, cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    assert "valid 900 s" in exported.stdout
    sheet = tmp_path / "sheets" / "sheet.csv"
    assert (tmp_path / "sheets" / "sheet.jsonl").is_file()
    rows = list(csv.DictReader(io.StringIO(sheet.read_text())))
    rows[0].update(decision="reject", note="duplicate of another pair")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    sheet.write_text(buffer.getvalue())
    imported = mis("review", "import", "cli", str(sheet), "--version", "reviewed", *flag, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert f"accepted 0, rejected 1, undecided {len(rows) - 1}" in imported.stdout
    assert "dataset test reviewed" in imported.stdout
    # The review page: reject the second sample with a note, accept the first
    # again, and import the decisions file it builds.
    page = Page(tmp_path / "chromium")
    try:
        page.open((tmp_path / "sheets" / "review.html").as_uri())
        assert page.run("document.querySelectorAll('.item.reject').length") == 0  # not imported yet
        page.run("""(() => {
            const items = document.querySelectorAll('.item');
            items[0].querySelector('[data-decision=accept]').click();
            items[1].querySelector('[data-decision=reject]').click();
            const note = items[1].querySelector('.note');
            note.value = 'no risk in this pair'; note.dispatchEvent(new Event('input'));
        })()""")
        decisions = page.run("document.getElementById('decisions').value")
        assert page.run("document.getElementById('decided').textContent") == f"2 of {len(rows)} decided"
        loaded = page.run("""new Promise(done => {
            const image = document.querySelector('.item img');
            if (image.complete) done(image.naturalWidth);
            image.onload = () => done(image.naturalWidth);
            image.onerror = () => done(-1);
        })""")
    finally:
        page.close()
    assert loaded > 0  # the presigned link served the image to the browser
    assert [json.loads(line) for line in decisions.splitlines()] == [
        {"item_id": rows[0]["item_id"], "decision": "accept", "note": ""},
        {"item_id": rows[1]["item_id"], "decision": "reject", "note": "no risk in this pair"}]
    (tmp_path / "decisions.jsonl").write_text(decisions)
    from_page = mis("review", "import", "cli", str(tmp_path / "decisions.jsonl"), *flag, cwd=tmp_path)
    assert from_page.returncode == 0, from_page.stderr
    assert "accepted 1, rejected 1, undecided 0; 1 rejected in all" in from_page.stdout
    # The same label again is refused: versions are kept, never overwritten.
    again = mis("review", "import", "cli", str(sheet), "--version", "reviewed", *flag, cwd=tmp_path)
    assert again.returncode == 1 and "INVALID_ARGUMENT: version" in again.stderr
    wrong = mis("review", "import", "cli", str(tmp_path / "sheet.xlsx"), *flag, cwd=tmp_path)
    assert wrong.returncode == 2 and "expected a .csv or .jsonl sheet" in wrong.stderr
    assert coordinator.terminate() == 0
