"""Reading MIS_Test-format folders."""

from __future__ import annotations

import json

import pytest

from services.evaluation.dataset import DatasetError, load_samples, resolve_splits
from tests.evaluation.support import make_mis_test


def test_known_splits_folders_and_named_files(tmp_path):
    root = make_mis_test(tmp_path / "MIS_Test", {"easy": 3, "hard": 2, "real": 1})
    samples = load_samples(["easy", "real"], root)
    assert [s.id for s in samples] == ["easy-1", "easy-2", "easy-3", "real-1"]
    assert samples[0].image_paths[0] == root / "easy_image/1/object1.png"
    assert len(load_samples([str(root)], None)) == 6
    named = resolve_splits([f"mine={root / 'mis_hard.json'}"], None)
    assert named[0][0] == "mine"


def test_missing_ids_use_the_record_index(tmp_path):
    root = make_mis_test(tmp_path / "d", {"hard": 2}, ids=False)
    assert [s.id for s in load_samples(["hard"], root)] == ["hard-0", "hard-1"]


def test_malformed_records_name_the_field(tmp_path):
    root = make_mis_test(tmp_path / "d", {"easy": 2})
    records = json.loads((root / "mis_easy.json").read_text())
    records[1]["image_path2"] = "easy_image/9/none.png"
    (root / "mis_easy.json").write_text(json.dumps(records))
    with pytest.raises(DatasetError, match="record 1: image_path2"):
        load_samples(["easy"], root)
    del records[0]["question"]
    (root / "mis_easy.json").write_text(json.dumps(records))
    with pytest.raises(DatasetError, match="record 0: question"):
        load_samples(["easy"], root)
    with pytest.raises(DatasetError, match="--data"):
        load_samples(["easy"], None)
