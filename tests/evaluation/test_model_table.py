"""The paper-style model table from real run folders: MIS and benchmark
reports made by the runner, with and without the general run's general.json."""

from __future__ import annotations

import argparse
import json

import pytest

from services.common.settings import load_settings
from services.evaluation.benchmarks import figstep
from services.evaluation.benchmarks.judges import KeywordJudge
from services.evaluation.benchmarks.registry import BENCHMARKS
from services.evaluation.benchmarks.report import build_benchmark_report, write_benchmark_reports
from services.evaluation.compare import ReportError
from services.evaluation.dataset import load_samples
from services.evaluation.judging import InProcessJudge
from services.evaluation.model_table import model_row, render_html, render_markdown
from services.evaluation.report import build_report, write_json
from services.evaluation.runner import EvalPlan, run_evaluation
from services.judge.config import Settings
from services.judge.judge import Judge
from tests.evaluation.benchmark_support import FIXTURES, write_answers
from tests.evaluation.support import REASONED, REFUSAL, make_mis_test, write_responses


def general(average: float) -> dict:
    return {"tasks": {"mmstar": {"metric": "average", "score": average - 1.0},
                      "mmmu_val": {"metric": "mmmu_acc", "score": average + 1.0}},
            "average": average, "lmms_eval_version": "0.3.0"}


async def model_folder(root, name: str, answer: str, average: float | None):
    """A model's folder: an MIS run (keyword judge), a FigStep run in figstep/,
    and general.json when `average` is given."""
    folder = root / name
    samples = load_samples(None, make_mis_test(root / "MIS_Test", {"easy": 2, "hard": 2, "real": 1}))
    write_responses(folder, samples, lambda s: answer)
    settings = load_settings(Settings, {"MIS_JUDGE_MODEL_BACKEND": "offline",
                                        "MIS_JUDGE_CACHE": "false"})
    judge = InProcessJudge(Judge.from_settings(settings), "keyword")
    try:
        await run_evaluation(EvalPlan(samples, None, [judge], folder))
    finally:
        await judge.close()
    write_json(build_report(folder, ["keyword"], name), folder / "report.json")
    bench = figstep.read(FIXTURES / "figstep")
    write_answers(folder / "figstep", bench, lambda s: answer)
    await run_evaluation(EvalPlan(bench, None, [KeywordJudge()], folder / "figstep"))
    write_benchmark_reports(build_benchmark_report(folder / "figstep", BENCHMARKS["figstep"],
                                                   ["vlguard-keywords"], name), folder / "figstep")
    if average is not None:
        (folder / "general.json").write_text(json.dumps(general(average)))
    return folder


async def test_table_rows_read_like_the_paper(tmp_path):
    base = await model_folder(tmp_path, "base", REASONED, 60.47)
    mirage = await model_folder(tmp_path, "mirage", REFUSAL, 61.30)
    api = await model_folder(tmp_path, "api", REASONED, None)
    rows = [model_row(base), model_row(mirage), model_row(api, "gpt-4o")]
    assert rows[0].cells["mis-easy-ASR"] == 100.0 and rows[1].cells["mis-easy-ASR"] == 0.0
    assert rows[1].cells["mis-real-ASR"] == 0.0 and rows[1].cells["figstep"] == 0.0
    assert rows[0].cells["figstep"] == 100.0 and rows[0].cells["siuo"] is None
    assert rows[1].cells["general"] == pytest.approx(61.30) and rows[2].cells["general"] is None
    table = render_markdown(rows)
    lines = table.splitlines()
    assert lines[0].startswith("| model | MIS easy ASR ↓ | MIS easy RSR ↑ | MIS hard ASR ↓")
    assert "| SIUO safe rate ↑ | MSSBench accuracy ↑ | FigStep ASR ↓ | General avg ↑ |" in lines[0]
    assert "JailbreakV" not in lines[0]  # no model was run on it
    assert lines[2] == ("| base | 100.00 | 0.00 | 100.00 | 0.00 | 100.00 | 0.00 | - | - | "
                        "100.00 | 60.47 |")
    assert lines[3] == ("| mirage | 0.00 (-100.00) | 0.00 (+0.00) | 0.00 (-100.00) | 0.00 (+0.00) "
                        "| 0.00 (-100.00) | 0.00 (+0.00) | - | - | 0.00 (-100.00) | 61.30 (+0.83) |")
    assert lines[4].startswith("| gpt-4o | 100.00 (+0.00) |") and lines[4].endswith("| - |")
    page = render_html(rows)
    assert '<td class="better" data-column="mis-easy-ASR">0.00 (-100.00)</td>' in page
    assert '<td class="better" data-column="general">61.30 (+0.83)</td>' in page
    assert '<table id="general">' in page and "<td>0.3.0</td>" in page


def test_a_folder_with_only_general_json_and_bad_general_json(tmp_path):
    only = tmp_path / "only"
    only.mkdir()
    (only / "general.json").write_text(json.dumps(general(50.0)))
    row = model_row(only)
    assert row.name == "only" and row.cells["general"] == 50.0
    assert row.cells["mis-easy-ASR"] is None
    assert render_markdown([row]).splitlines()[2].startswith("| only | - | - |")
    bad = general(50.0)
    bad["tasks"]["mmstar"]["score"] = "high"
    (only / "general.json").write_text(json.dumps(bad))
    with pytest.raises(ReportError, match=r"general\.json: tasks\.mmstar\.score: required, a number"):
        model_row(only)
    (only / "general.json").write_text(json.dumps({"tasks": {}}))
    with pytest.raises(ReportError, match=r"general\.json: average: required, a number"):
        model_row(only)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ReportError, match=r"empty: no report\.json .* and no general\.json"):
        model_row(empty)


async def test_cli_table(tmp_path, capsys):
    from services.cli import evaluate

    base = await model_folder(tmp_path, "base", REASONED, None)
    parser = argparse.ArgumentParser()
    evaluate.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["eval", "table", str(base), "--label", "InternVL2.5-8B", "--out",
                              str(tmp_path / "t.html"), "--markdown", str(tmp_path / "t.md")])
    assert args.handler(args) == 0
    assert "| InternVL2.5-8B | 100.00 |" in (tmp_path / "t.md").read_text()
    assert (tmp_path / "t.html").read_text().startswith("<!doctype html>")
    assert "| InternVL2.5-8B |" in capsys.readouterr().out
    args = parser.parse_args(["eval", "table", str(base), str(base), "--label", "one", "--out",
                              str(tmp_path / "t.html")])
    assert args.handler(args) == 2
    assert "--label: give one per folder (2), or none" in capsys.readouterr().err


async def test_the_mis_report_shows_the_model_s_other_runs(tmp_path):
    from services.evaluation.report_html import render_html as render_report

    folder = await model_folder(tmp_path, "base", REASONED, 60.47)
    report = build_report(folder, ["keyword"], "base")
    figstep_row = report["beside"]["benchmarks"]["figstep"]
    assert (figstep_row["title"], figstep_row["metric"], figstep_row["value"]) == ("FigStep", "ASR", 100.0)
    assert figstep_row["judged"] == 3 and figstep_row["errors"] == 0
    assert report["beside"]["general"]["average"] == 60.47
    page = render_report(report, folder)
    assert '<table id="beside">' in page and "<td>60.47</td>" in page
    # A broken general.json is named on the MIS report, which is still written.
    (folder / "general.json").write_text("{")
    report = build_report(folder, ["keyword"], "base")
    assert report["beside"] == {"problem": f"{folder / 'general.json'}: not JSON"}
    assert "not JSON" in render_report(report, folder)
