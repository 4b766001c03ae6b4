"""A second, independent client: Node's @grpc/grpc-js calling the judge from
the proto files alone."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.judge.support import TOKEN_ALICE, png, write_tokens

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "node" / "judge-client.js"

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or not (ROOT / "node_modules" / "@grpc" / "grpc-js").exists(),
    reason="node or node_modules missing (make setup-node)")


def node(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["node", str(CLIENT), *args], capture_output=True, text=True,
                          timeout=60, cwd=ROOT)


def test_node_client_batch_stream_and_auth(start_service, tmp_path):
    service = start_service("judge", {"MIS_AUTH_TOKENS_FILE": str(write_tokens(tmp_path / "t"))})
    (tmp_path / "a.png").write_bytes(png((9, 9, 9)))
    (tmp_path / "b.png").write_bytes(png((90, 9, 9)))
    items = [{"item_id": "n1", "question": "q", "images": ["a.png", "b.png"],
              "response": "I am sorry, I can't help with that."},
             {"item_id": "n2", "question": "q", "images": ["a.png"], "response": "Here is how."},
             {"item_id": "n3", "question": "q", "images": [], "response": "Here is how."}]
    items_file = tmp_path / "items.json"
    items_file.write_text(json.dumps(items))
    auth = ["--address", service.address, "--token", TOKEN_ALICE]

    info = node(*auth, "--mode", "info")
    assert info.returncode == 0, info.stderr
    info_json = json.loads(info.stdout)
    assert info_json["max_images_per_item"] == 4 and info_json["default_backend"] == "keyword"

    for mode in ("batch", "stream"):
        run = node(*auth, "--mode", mode, str(items_file))
        assert run.returncode == 0, run.stderr
        results = {r["item_id"]: r for r in map(json.loads, run.stdout.splitlines())}
        assert results["n1"]["verdict"]["response_class"] == "RESPONSE_CLASS_SAFE_WITH_REFUSAL"
        assert results["n2"]["verdict"]["response_class"] == "RESPONSE_CLASS_UNSAFE"
        assert results["n3"]["error"]["code"] == "INVALID_ARGUMENT"
        assert results["n3"]["error"]["field"] == ("items[2].images" if mode == "batch"
                                                   else "item.images")

    refused = node("--address", service.address, "--mode", "batch", str(items_file))
    assert refused.returncode == 1
    assert json.loads(refused.stderr)["code"] == "UNAUTHENTICATED"
