"""Integration tier: `mis eval general` running the real lmms-eval (.venv-lmms)
against the real vLLM server with the tiny VLM, on local tasks defined from
the fixture in data/lmms_task (images drawn per row; nothing is downloaded)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from services.cli.main import main
from services.evaluation.general import PROJECT_LMMS_PYTHON

pytestmark = pytest.mark.integration

TASK_FIXTURE = Path(__file__).parent / "data" / "lmms_task"


@pytest.fixture
def lmms_eval(tmp_path, monkeypatch) -> Path:
    """The fixture's task folder, with its data's absolute path written in
    (datasets reads data_files from the working directory), and Hugging Face
    offline with its caches in the test's folder."""
    if not PROJECT_LMMS_PYTHON.exists():
        if os.environ.get("MIS_REQUIRE_VLLM") == "1":
            pytest.fail("the integration tier needs .venv-lmms: run `make setup-lmms`")
        pytest.skip("lmms-eval venv missing (make setup-lmms)")
    tasks = shutil.copytree(TASK_FIXTURE, tmp_path / "lmms_task")
    config = tasks / "mis_colours.yaml"
    config.write_text(config.read_text().replace("test: colours.jsonl",
                                                 f"test: {tasks / 'colours.jsonl'}"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    return tasks


def first_option_letter(answer: str) -> str:
    """The fixture's own rule, restated: the first of a-d in either case."""
    match = re.search(r"[A-Da-d]", answer)
    return match.group(0).upper() if match else ""


def test_general_scores_a_local_task_from_the_real_answers(tmp_path, vlm, lmms_eval, capsys):
    out = tmp_path / "run"
    assert main(["eval", "general", "--endpoint", vlm.base_url, "--model", vlm.served_name,
                 "--tasks", "mis_colours", "--include-path", str(lmms_eval),
                 "--out", str(out)]) == 0
    general = json.loads((out / "general.json").read_text())
    assert set(general) >= {"tasks", "average", "lmms_eval_version"}
    assert general["lmms_eval_version"] == "0.7.3" and general["model"] == "tiny-vlm"
    task = general["tasks"]["mis_colours"]
    assert task["metric"] == "accuracy" and task["samples"] == 24

    # The score is the share of logged answers naming the right option.
    logs = list((out / "lmms-eval").glob("*/*_samples_mis_colours.jsonl"))
    assert len(logs) == 1
    samples = [json.loads(line) for line in logs[0].read_text().splitlines()]
    rows = {json.loads(line)["answer"] for line in (lmms_eval / "colours.jsonl").read_text().splitlines()}
    assert len(samples) == 24 and {s["target"] for s in samples} == rows
    answers = [s.get("resps", s.get("filtered_resps")) for s in samples]
    assert all(isinstance(a, str) and a.strip() for a in answers), answers[:3]
    right = sum(first_option_letter(a) == s["target"] for a, s in zip(answers, samples))
    assert task["score"] == pytest.approx(100 * right / 24, abs=1e-3)
    # Noise from the random model, scored with a lenient rule: near chance, not 0 or 100.
    assert 0 < task["score"] < 100
    assert general["average"] == task["score"]
    stdout = capsys.readouterr().out
    assert f"mis_colours:  {task['score']:.2f}  (accuracy, n=24)" in stdout


def test_failed_requests_write_no_general_json(tmp_path, vlm, lmms_eval, capsys):
    """lmms-eval scores an answer it could not get as a wrong one; the run fails instead."""
    out = tmp_path / "run"
    assert main(["eval", "general", "--endpoint", vlm.base_url, "--model", vlm.served_name,
                 "--tasks", "mis_colours_overlong", "--include-path", str(lmms_eval),
                 "--limit", "2", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "task mis_colours_overlong: 2 of 2 requests to" in err
    assert "maximum context length" in err and "Traceback" not in err
    assert not (out / "general.json").exists()


def test_unknown_task_and_model_are_named_before_anything_runs(tmp_path, vlm, lmms_eval, capsys):
    out = tmp_path / "run"
    base = ["eval", "general", "--endpoint", vlm.base_url, "--include-path", str(lmms_eval),
            "--out", str(out)]
    assert main([*base, "--model", vlm.served_name, "--tasks", "mis_colours,mmstar,no_such_task"]) == 2
    err = capsys.readouterr().err
    assert "--tasks: unknown to lmms-eval 0.7.3: no_such_task" in err and "Traceback" not in err
    assert main([*base, "--model", vlm.served_name, "--tasks", "mmt_mi_val,mmt_mi"]) == 2
    assert "--tasks: mmt_mi (a group): name its tasks one by one" in capsys.readouterr().err
    assert main([*base, "--model", "mirage-8b", "--tasks", "mis_colours"]) == 2
    err = capsys.readouterr().err
    assert f"--model 'mirage-8b': not served at {vlm.base_url} (it serves: tiny-vlm)" in err
    assert not out.exists()
