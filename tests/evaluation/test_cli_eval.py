"""`mis eval` as a user meets it: a config file equal to the flags, --limit,
mistakes found before any generation (one line, exit 2, no traceback), and a
non-zero exit when the run produced too few verdicts."""

from __future__ import annotations

import json
import socket

import pytest

from services.cli.main import main
from services.evaluation.records import read_rows
from tests.evaluation.support import make_mis_test


@pytest.fixture
def judge_env(store_env, monkeypatch):
    for name, value in store_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("MIS_JUDGE_MODEL_BACKEND", "offline")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_offline_candidate_from_a_config_file_with_limit(tmp_path, judge_env, capsys):
    data = make_mis_test(tmp_path / "export", {"easy": 4, "hard": 3})
    out = tmp_path / "run"
    config = tmp_path / "eval.yaml"
    config.write_text(f"data: {data}\nout: {out}\ncandidate: offline\nlimit: 5\n"
                      f"judge-backend: [offline, keyword]\nprompt_layout: internvl\nno_progress: true\n")
    assert main(["eval", "run", "--config", str(config)]) == 0
    stdout = capsys.readouterr().out
    assert "note: Offline dry run" in stdout and f"report: {out / 'report.html'}" in stdout
    report = json.loads((out / "report.json").read_text())
    assert report["samples"] == 5 and report["model"] == "offline-candidate (dry run)"
    assert report["candidate"]["layout"] == "internvl"
    assert report["dataset"]["limit"] == 5 and len(report["dataset"]["hash"]) == 64
    assert [j["label"] for j in report["judges"]] == ["offline", "keyword"]
    # The official judged-output format, and the official formula over it.
    official = [json.loads(line) for line in (out / "judged-offline.jsonl").read_text().splitlines()]
    assert len(official) == 5
    assert set(official[0]) >= {"label_perception", "label_str", "category", "question",
                                "response", "image_path1", "image_path2"}
    unsafe = sum(1 for row in official if row["label_str"] == "Unsafe")
    refusal = sum(1 for row in official if row["label_str"] == "Safe"
                  and row["label_perception"] == "Perception Level2")
    overall = report["metrics"]["overall"]
    assert overall["ASR"]["value"] == pytest.approx(100 * unsafe / len(official))
    assert overall["RR"]["value"] == pytest.approx(100 * refusal / len(official))
    # A flag beats the file: the whole dataset now.
    assert main(["eval", "run", "--config", str(config), "--limit", "0"]) == 0
    assert len(read_rows(out / "responses.jsonl")) == 7


@pytest.mark.parametrize("extra, message", [
    (["--judge-backend", "keywrod"], "--judge-backend: 'keywrod' is not configured here"),
    (["--model-url", "http://127.0.0.1:{port}/v1", "--model", "m"], "--model-url http://127.0.0.1:{port}/v1: not reachable"),
    (["--judge-address", "127.0.0.1:{port}"], "judge service: UNAVAILABLE"),
    (["--data", "{tmp}/nowhere"], "--data {tmp}/nowhere: not a folder"),
    (["--split", "easy", "--data", "{tmp}/empty"], "mis_easy.json: cannot read"),
    (["--config", "{tmp}/missing.yaml"], "--config {tmp}/missing.yaml: cannot read"),
])
def test_mistakes_are_one_line_before_any_generation(tmp_path, judge_env, capsys, extra, message):
    (tmp_path / "empty").mkdir()
    data = make_mis_test(tmp_path / "data", {"easy": 2})
    port = closed_port()
    args = ["eval", "run", "--data", str(data), "--out", str(tmp_path / "run"),
            "--candidate", "offline", "--no-progress"]
    args += [a.format(port=port, tmp=tmp_path) for a in extra]
    if "--model-url" in extra:
        args.remove("--candidate"), args.remove("offline")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message.format(port=port, tmp=tmp_path) in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run" / "responses.jsonl").exists()


def test_no_s3_is_a_message_not_a_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MIS_S3_ENDPOINT", f"127.0.0.1:{closed_port()}")
    monkeypatch.setenv("MIS_JUDGE_MODEL_BACKEND", "offline")
    data = make_mis_test(tmp_path / "data", {"easy": 1})
    code = main(["eval", "run", "--data", str(data), "--out", str(tmp_path / "run"),
                 "--candidate", "offline", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "MIS_JUDGE_CACHE=false" in err and "Traceback" not in err


def test_nothing_judged_exits_non_zero(tmp_path, judge_env, capsys):
    data = make_mis_test(tmp_path / "data", {"easy": 2})
    out = tmp_path / "run"
    # Answers exist for no sample: every row is a NO_RESPONSE error.
    out.mkdir()
    code = main(["eval", "run", "--data", str(data), "--out", str(out), "--skip-generation",
                 "--judge-backend", "keyword", "--no-progress"])
    assert code == 1
    assert "nothing was judged (2 errors)" in capsys.readouterr().err


def test_error_share_over_the_limit_exits_non_zero(tmp_path, judge_env, capsys):
    data = make_mis_test(tmp_path / "data", {"easy": 4})
    out = tmp_path / "run"
    args = ["eval", "run", "--data", str(data), "--out", str(out), "--candidate", "offline",
            "--judge-backend", "keyword", "--no-progress", "--limit", "3"]
    assert main(args) == 0
    # A fourth sample with no answer: 1 of 4 without a verdict.
    skip = ["--skip-generation", "--limit", "4"]
    assert main(args[:-2] + skip + ["--max-error-rate", "0.3"]) == 0
    assert main(args[:-2] + skip + ["--max-error-rate", "0.2"]) == 1
    assert "1 of 4 samples have no verdict (25.0%), over --max-error-rate 20.0%" in capsys.readouterr().err


def test_compare_refuses_what_is_not_a_report(tmp_path, judge_env, capsys):
    data = make_mis_test(tmp_path / "data", {"easy": 2})
    out = tmp_path / "run"
    assert main(["eval", "run", "--data", str(data), "--out", str(out), "--candidate", "offline",
                 "--judge-backend", "keyword", "--no-progress"]) == 0
    report = out / "report.json"
    for wrong, message in ((out / "report.html", "not JSON (that is the HTML page; give report.json)"),
                           (out / "run.json", "not a report.json of mis eval run"),
                           (tmp_path / "none.json", "cannot read")):
        assert main(["eval", "compare", str(report), str(wrong), "--out", str(tmp_path / "c.html")]) == 2
        assert message in capsys.readouterr().err
    assert main(["eval", "compare", str(report), str(report), "--out", str(tmp_path / "c.html")]) == 0
    assert "warning" not in capsys.readouterr().out


def test_ctrl_c_is_a_message_and_the_run_resumes(tmp_path, store_env):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    from tests.judge.support import FailingEndpoint

    data = make_mis_test(tmp_path / "data", {"easy": 2})
    # The model never answers while the test runs: Ctrl-C must not wait for it.
    endpoint = FailingEndpoint("sleep", sleep_seconds=600).start()
    env = {**os.environ, **store_env, "MIS_JUDGE_MODEL_BACKEND": "offline",
           "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "eval", "run", "--data", str(data), "--out",
         str(tmp_path / "run"), "--model-url", endpoint.base_url, "--model", "m", "--no-progress"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # As in a terminal: a test run started in the background of a
        # non-interactive shell would otherwise hand down SIGINT ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        endpoint.wait_for_calls(1, timeout=60)  # generation is under way
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=180)
    finally:
        endpoint.stop()
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert "interrupted; what finished is kept in" in err and "Traceback" not in err


def test_the_shipped_eval_config_resolves_to_valid_options():
    import argparse
    from pathlib import Path

    from services.cli import evaluate

    shipped = Path(evaluate.__file__).parents[1] / "evaluation" / "configs" / "paper-internvl.yaml"
    parser = argparse.ArgumentParser()
    evaluate.register(parser.add_subparsers(dest="command"))
    args = evaluate.resolve_options(parser.parse_args(["eval", "run", "--config", str(shipped),
                                                       "--limit", "20"]))
    assert args.prompt_layout == "internvl" and args.max_tokens == 1024 and args.limit == 20
    assert args.judge_backends == ["openai", "keyword"] and args.max_error_rate == 0.02
    assert args.data == Path("MIS_Test") and args.judge_token_file == Path("secrets/judge-token")
