"""A run's inputs are checked when it is created and pinned for its life: a seed whose
category is not in the taxonomy is refused under the user's seed id, and a run records the
SHA-256 of its seeds and taxonomy and is not resumed once they changed (edited seed files
would otherwise be mixed into a half-done run without a word)."""

from __future__ import annotations

import asyncio
import json

import pytest

from mis.v1 import coordinator_pb2
from services.common.errors import InvalidArgument
from services.coordinator.runs import RunManager
from tests.coordinator.conftest import DEMO_SEEDS, small_config
from tests.coordinator.recording import Recording
from tests.coordinator.test_pipeline import finished


async def _interrupted_run(stages, store, seeds) -> str:
    """A run over `seeds`, stopped (as by a crash) while its first refine calls are held."""
    config = small_config(limit=4)
    config.seeds[0].uri = str(seeds)
    callers = Recording(stages.stage_addresses())
    callers.gates["refine"] = asyncio.Event()
    manager = RunManager(store, callers)
    await manager.start()
    run = await manager.create(config, "edited-seeds")
    assert len(run.inputs_sha256) == 64
    await callers.wait_for(lambda: len(callers.sent["refine"]) >= 1)
    await manager.close()
    return run.id


async def test_a_run_whose_seed_file_changed_is_refused_and_resumes_once_restored(stages, store, tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    original = DEMO_SEEDS.read_text()
    seeds.write_text(original)
    run_id = await _interrupted_run(stages, store, seeds)

    records = [json.loads(line) for line in original.splitlines() if line.strip()]
    records[0]["text"] = records[0]["text"].replace("crowbar", "hammer")
    seeds.write_text("".join(json.dumps(r) + "\n" for r in records))
    callers = Recording(stages.stage_addresses())
    resumed = RunManager(store, callers)
    await resumed.start()
    refused = await finished(resumed, run_id)
    assert refused.state == coordinator_pb2.RUN_STATE_FAILED
    assert "seed files or taxonomy changed since it was created" in refused.message
    assert not any(callers.sent.values())  # no model was called for the edited seeds

    seeds.write_text(original)
    await resumed.retry_failed(run_id)
    assert (await finished(resumed, run_id)).state == coordinator_pb2.RUN_STATE_SUCCEEDED
    await resumed.close()


async def test_unchanged_inputs_resume(stages, store, tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text(DEMO_SEEDS.read_text())
    run_id = await _interrupted_run(stages, store, seeds)
    resumed = RunManager(store, Recording(stages.stage_addresses()))
    await resumed.start()
    assert (await finished(resumed, run_id)).state == coordinator_pb2.RUN_STATE_SUCCEEDED
    await resumed.close()


async def test_an_unknown_category_is_refused_at_create_under_the_users_seed_id(stages, store, tmp_path):
    seeds = tmp_path / "seeds.jsonl"
    records = [json.loads(line) for line in DEMO_SEEDS.read_text().splitlines()[:3]]
    records[1]["category"] = "Made-up Harm"
    seeds.write_text("".join(json.dumps(r) + "\n" for r in records))
    config = small_config(limit=3)
    config.seeds[0].uri = str(seeds)
    callers = Recording(stages.stage_addresses())
    manager = RunManager(store, callers)
    await manager.start()
    with pytest.raises(InvalidArgument) as caught:
        await manager.create(config, "unknown-category")
    await manager.close()
    assert caught.value.field == "config.seeds[0].uri"
    assert f"seed {records[1]['id']!r}" in caught.value.reason and "'Made-up Harm'" in caught.value.reason
    assert not any(callers.sent.values())
