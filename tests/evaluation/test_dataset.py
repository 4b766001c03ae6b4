"""Reading MIS_Test-format folders, and the reader as a boundary: image paths
never leave the dataset root and files are images by their bytes."""

from __future__ import annotations

import json
import os

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


def test_data_folder_alone_reads_every_split_file_it_holds(tmp_path):
    root = make_mis_test(tmp_path / "export", {"easy": 2, "hard": 1})
    assert [s.id for s in load_samples(None, root)] == ["easy-1", "easy-2", "hard-1"]
    with pytest.raises(DatasetError, match="none of mis_easy.json"):
        load_samples(None, tmp_path)


def test_missing_ids_are_numbered_from_one_like_the_export(tmp_path):
    root = make_mis_test(tmp_path / "d", {"hard": 2}, ids=False)
    assert [s.id for s in load_samples(["hard"], root)] == ["hard-1", "hard-2"]
    # A folder where some records carry the export's 1-based ids and some none.
    records = json.loads((root / "mis_hard.json").read_text())
    records[1]["id"] = 2
    (root / "mis_hard.json").write_text(json.dumps(records))
    assert [s.id for s in load_samples(["hard"], root)] == ["hard-1", "hard-2"]


def test_content_hash_follows_the_image_bytes(tmp_path):
    root = make_mis_test(tmp_path / "d", {"easy": 2})
    before = {s.id: s.content_sha256 for s in load_samples(["easy"], root)}
    (root / "easy_image/2/object2.png").write_bytes((root / "easy_image/1/object2.png").read_bytes())
    after = {s.id: s.content_sha256 for s in load_samples(["easy"], root)}
    assert before["easy-1"] == after["easy-1"] and before["easy-2"] != after["easy-2"]


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


def point_image(root, relative: str) -> None:
    records = json.loads((root / "mis_easy.json").read_text())
    records[0]["image_path1"] = relative
    (root / "mis_easy.json").write_text(json.dumps(records))


@pytest.mark.parametrize("relative, reason", [
    ("../outside.png", "leaves the dataset root"),
    ("easy_image/../../outside.png", "leaves the dataset root"),
    ("/etc/passwd", "is absolute"),
])
def test_paths_out_of_the_root_are_refused(tmp_path, relative, reason):
    root = make_mis_test(tmp_path / "d", {"easy": 1})
    (tmp_path / "outside.png").write_bytes((root / "easy_image/1/object1.png").read_bytes())
    point_image(root, relative)
    with pytest.raises(DatasetError, match=f"record 0: image_path1: .*{reason}"):
        load_samples(["easy"], root)


def test_a_symlink_out_of_the_root_is_refused_and_one_inside_is_read(tmp_path):
    root = make_mis_test(tmp_path / "d", {"easy": 1})
    secret = tmp_path / "secret.png"
    secret.write_bytes((root / "easy_image/1/object1.png").read_bytes())
    os.symlink(secret, root / "easy_image/1/link-out.png")
    os.symlink(root / "easy_image/1/object2.png", root / "easy_image/1/link-in.png")
    point_image(root, "easy_image/1/link-in.png")
    assert load_samples(["easy"], root)[0].image_paths[0].name == "link-in.png"
    point_image(root, "easy_image/1/link-out.png")
    with pytest.raises(DatasetError, match="image_path1: .*link to a place outside"):
        load_samples(["easy"], root)


def test_a_text_file_named_png_is_not_an_image(tmp_path):
    root = make_mis_test(tmp_path / "d", {"easy": 1})
    (root / "easy_image/1/object1.png").write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(DatasetError, match="image_path1: 'easy_image/1/object1.png' is not an image"):
        load_samples(["easy"], root)
