"""A split added after the named ones (by a stage that makes a new split)
takes its target from `targets.by_split`, keyed by its name, with no field
of its own in SplitTargets: the run config checks it by its key, and the
run keeps that many of the split in seed order."""

from __future__ import annotations

import pytest

from mis.v1 import common_pb2
from services.coordinator.finish import DoneRecord, select_samples, split_limits
from services.coordinator.runconfig import RunConfigError, parse_run_config
from services.coordinator.sample import SPLIT_NAMES

# The value a new split's `Split` enum entry would get, named as SPLIT_NAMES would name it.
AUDITED = max(common_pb2.Split.values()) + 1


@pytest.fixture
def audited_split(monkeypatch):
    monkeypatch.setitem(SPLIT_NAMES, AUDITED, "audited")


def config(targets: dict):
    return parse_run_config({"seeds": ["seeds.jsonl"], "targets": targets})


def test_a_later_split_keeps_its_by_split_target(audited_split):
    targets = config({"train": 1, "by_split": {"audited": 2}}).targets
    assert split_limits(targets) == {common_pb2.SPLIT_TRAIN: 1, common_pb2.SPLIT_EASY: 0,
                                     common_pb2.SPLIT_HARD: 0, common_pb2.SPLIT_REAL: 0, AUDITED: 2}
    done = [DoneRecord(f"s{i}", f"seed{i}", i, 0, AUDITED) for i in range(4)]
    result = select_samples("r", [*done, DoneRecord("t0", "seed9", 9, 0, common_pb2.SPLIT_TRAIN)],
                            {}, targets, [])
    assert [s["id"] for s in result["samples"]] == ["s0", "s1", "t0"]
    assert result["over_target"] == ["s2", "s3"]
    assert result["per_split"] == {"audited": 2, "train": 1}


@pytest.mark.parametrize("by_split,key,reason", [
    ({"audited": -1}, "targets.by_split.audited", "must be 0 (no target) or more"),
    ({"real": 1}, "targets.by_split.real", "real has its own key, targets.real"),
    ({"bogus": 1}, "targets.by_split.bogus", "unknown split (splits: train, easy, hard, real, audited)"),
    ([1], "targets.by_split", "expected a mapping"),
    ({"audited": "two"}, "targets.by_split.audited", "expected an integer, got 'two'"),
])
def test_by_split_mistakes_name_the_key(audited_split, by_split, key, reason):
    with pytest.raises(RunConfigError) as error:
        config({"by_split": by_split})
    assert (error.value.key, error.value.reason) == (key, reason)
