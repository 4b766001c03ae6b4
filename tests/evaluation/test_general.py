"""`mis eval general` mistakes found before lmms-eval starts (one line, exit 2,
no traceback), and `mis eval compare` showing the general tasks' change like
the paper's Table 6. The real lmms-eval runs are in test_general_lmms.py."""

from __future__ import annotations

import json
import socket

import pytest

from services.cli.main import main
from services.evaluation.general_change import general_change
from tests.evaluation.support import make_mis_test


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("extra, message", [
    (["--endpoint", "http://127.0.0.1:{port}/v1"],
     "--endpoint http://127.0.0.1:{port}/v1: not reachable"),
    (["--endpoint", "vllm:8000/v1"], "--endpoint 'vllm:8000/v1': expected an http:// or https://"),
    (["--tasks", "mmstar,../tasks/x.yaml"], "--tasks '../tasks/x.yaml': not an lmms-eval task name"),
    (["--tasks", " , "], "--tasks: give at least one task, e.g. mmstar,mmmu_val"),
    (["--metric", "mmstar"], "--metric 'mmstar': expected TASK=METRIC"),
    (["--metric", "mmmu_val=mmmu_acc"], "--metric mmmu_val=mmmu_acc: mmmu_val is not among --tasks"),
    (["--lmms-python", "{tmp}/nowhere/python"], "--lmms-python {tmp}/nowhere/python: no such file"),
])
def test_bad_input_is_one_line_naming_the_option(tmp_path, capsys, extra, message):
    port = closed_port()
    options = {"--endpoint": f"http://127.0.0.1:{port}/v1", "--model": "mirage-8b",
               "--tasks": "mmstar", "--out": str(tmp_path / "run")}
    pairs = [extra[i:i + 2] for i in range(0, len(extra), 2)]
    options.update({flag: value.format(port=port, tmp=tmp_path) for flag, value in pairs})
    argv = ["eval", "general", *[part for pair in options.items() for part in pair]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message.format(port=port, tmp=tmp_path) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_lmms_eval_from_the_variable_the_evaluation_image_sets(tmp_path, capsys, monkeypatch):
    from services.evaluation.general import lmms_python

    python = tmp_path / "lmms" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    monkeypatch.setenv("MIS_LMMS_PYTHON", str(python))
    assert lmms_python(None) == python
    assert lmms_python(tmp_path / "lmms" / "bin") == tmp_path / "lmms" / "bin"  # the flag first
    monkeypatch.setenv("MIS_LMMS_PYTHON", str(tmp_path / "nowhere"))
    argv = ["eval", "general", "--endpoint", f"http://127.0.0.1:{closed_port()}/v1", "--model",
            "m", "--tasks", "mmstar", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    assert f"MIS_LMMS_PYTHON={tmp_path / 'nowhere'}: no such file" in capsys.readouterr().err


def general_json(scores: dict[str, float], version: str = "0.7.3") -> dict:
    tasks = {task: {"metric": "accuracy", "score": score, "samples": 10} for task, score in scores.items()}
    return {"tasks": tasks, "average": sum(scores.values()) / len(scores), "lmms_eval_version": version}


def test_change_is_per_task_and_over_the_tasks_both_ran():
    base = general_json({"mmstar": 50.0, "mmmu_val": 40.0, "muirbench": 30.0})
    tuned = general_json({"mmstar": 51.5, "mmmu_val": 39.0, "qbench2_dev": 60.0}, version="0.7.4")
    change = general_change(base, tuned, ("base", "mirage"))
    assert change.rows == [("mmstar", 50.0, 51.5), ("mmmu_val", 40.0, 39.0),
                           ("muirbench", 30.0, None), ("qbench2_dev", None, 60.0)]
    assert change.shared == ["mmstar", "mmmu_val"]
    assert change.average == (45.0, 45.25)
    assert change.warnings == [
        "general tasks run for one model only, left out of the average: muirbench, qbench2_dev",
        "general tasks run by lmms-eval 0.7.3 vs 0.7.4"]
    tuned["tasks"]["mmstar"]["metric"] = "mmstar_acc"
    assert "general task mmstar: scored by accuracy vs mmstar_acc" in \
        general_change(base, tuned, ("base", "mirage")).warnings


@pytest.fixture
def two_runs(tmp_path, store_env, monkeypatch):
    """Two offline MIS runs (base and mirage), so compare has real report.json files."""
    for name, value in store_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MIS_JUDGE_MODEL_BACKEND", "offline")
    data = make_mis_test(tmp_path / "data", {"easy": 2})
    runs = []
    for label in ("base", "mirage"):
        out = tmp_path / label
        assert main(["eval", "run", "--data", str(data), "--out", str(out), "--candidate", "offline",
                     "--judge-backend", "keyword", "--no-progress", "--label", label]) == 0
        runs.append(out)
    return runs


def test_compare_shows_the_general_change_beside_the_safety_numbers(tmp_path, two_runs, capsys):
    base, mirage = two_runs
    (base / "general.json").write_text(json.dumps(general_json({"mmstar": 50.0, "muirbench": 30.0})))
    (mirage / "general.json").write_text(json.dumps(general_json({"mmstar": 52.4, "muirbench": 29.0})))
    capsys.readouterr()
    page = tmp_path / "compare.html"
    assert main(["eval", "compare", str(base / "report.json"), str(mirage / "report.json"),
                 "--out", str(page)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split() for line in lines if line.split()[:1] in (["mmstar"], ["muirbench"], ["average"])] == [
        ["mmstar", "50.00", "52.40", "+2.40"], ["muirbench", "30.00", "29.00", "-1.00"],
        ["average", "40.00", "40.70", "+0.70"]]
    html = page.read_text()
    assert '<table id="compare-general">' in html and "<th>base</th><th>mirage</th>" in html
    assert '<td>mmstar</td><td>50.00</td><td>52.40</td><td class="better">+2.40</td>' in html
    assert '<td>muirbench</td><td>30.00</td><td>29.00</td><td class="worse">-1.00</td>' in html
    assert '<td>average (2 tasks)</td><td>40.00</td><td>40.70</td>' in html


def test_compare_warns_when_one_run_has_no_general_json(tmp_path, two_runs, capsys):
    base, mirage = two_runs
    (mirage / "general.json").write_text(json.dumps(general_json({"mmstar": 52.0})))
    capsys.readouterr()
    page = tmp_path / "compare.html"
    assert main(["eval", "compare", str(base / "report.json"), str(mirage / "report.json"),
                 "--out", str(page)]) == 0
    out = capsys.readouterr().out
    assert "warning: base has no general.json beside its report" in out
    assert '<td>mmstar</td><td></td><td>52.00</td><td class=""></td>' in page.read_text()
    # Without general.json on either side there is no general section.
    (mirage / "general.json").unlink()
    assert main(["eval", "compare", str(base / "report.json"), str(mirage / "report.json"),
                 "--out", str(page)]) == 0
    out = capsys.readouterr().out
    assert "compare-general" not in page.read_text() and "average" not in out and "warning" not in out
