"""The HTML reports, checked in headless Chromium: the page loads, and the bars
with their whiskers, the tables (per split, split x category, judge agreement,
tokens, the paired test) and the banners are in the rendered DOM."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from services.common.settings import load_settings
from services.evaluation.compare import render_comparison
from services.evaluation.dataset import load_samples
from services.evaluation.generation import CandidateSettings
from services.evaluation.judging import InProcessJudge
from services.evaluation.report import build_report, write_html, write_json, write_run_info
from services.evaluation.runner import EvalPlan, run_evaluation
from services.judge.config import Settings
from services.judge.judge import Judge
from tests.evaluation.support import REASONED, REFUSAL, make_mis_test, write_responses

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium missing")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--no-first-run", "--disable-dev-shm-usage"]


def chromium(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={cwd / 'profile'}", *args],
                          capture_output=True, text=True, timeout=90, cwd=cwd)


def table(html: str, table_id: str) -> str:
    return html.split(f'id="{table_id}"')[1].split("</table>")[0]


async def make_run(tmp_path: Path, name: str, answer, layout: str = "images-first") -> dict:
    samples = load_samples(["easy", "hard"], make_mis_test(tmp_path / "MIS_Test"))
    out = tmp_path / name
    write_responses(out, samples, answer)
    write_run_info(out, CandidateSettings(base_url="", model="offline", backend="offline",
                                          layout=layout), samples)
    settings = load_settings(Settings, {"MIS_JUDGE_CACHE": "false", "MIS_JUDGE_MODEL_BACKEND": "offline"})
    judge = Judge.from_settings(settings)
    judges = [InProcessJudge(judge, "keyword"), InProcessJudge(judge, "offline", owned=False)]
    try:
        await run_evaluation(EvalPlan(samples, None, judges, out))
    finally:
        await judges[0].close()
    report = build_report(out, ["keyword", "offline"], name)
    write_json(report, out / "report.json")
    write_html(report, out / "report.html")
    return report


async def test_report_page_in_chromium(tmp_path):
    report = await make_run(tmp_path, "base", lambda s: REFUSAL if s.id.endswith("1") else REASONED,
                            layout="internvl")
    page = tmp_path / "base" / "report.html"
    dom = chromium("--dump-dom", page.as_uri(), cwd=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert re.search(r'<svg[^>]*id="category-bars"', html)
    categories = report["metrics"]["by_category"]
    assert len(re.findall(r'<rect class="seg ', html)) >= len(categories)
    assert html.count('<g class="whisker">') == len(categories)  # one ASR interval per bar
    assert table(html, "per-split").count("<tr>") == 1 + 2  # header + easy + hard
    split_category = table(html, "per-split-category")
    assert split_category.count("<tr>") == 1 + len(report["metrics"]["by_split_category"])
    assert "easy / Illegal Activity" in split_category
    # keyword and offline agree on all 7 items: the diagonal of the confusion table.
    confusion = table(html, "confusion")
    assert confusion.count("<tr>") == 1 + 4
    assert re.search(r"keyword: RR</td><td>0</td><td>0</td><td>2</td>", confusion)
    assert "Cohen's kappa between keyword and offline: 1.000 over 7 items" in html
    assert "Image-1: &lt;image&gt;" in html.split('id="prompt-layout"')[1].split("</li>")[0]
    assert 'class="banner">The candidate is the offline dry-run candidate' in html
    assert 'id="tokens"' in html
    overall = report["metrics"]["overall"]["ASR"]["value"]
    assert f'id="overall-asr">{overall:.2f}%' in html
    assert 'id="examples-SAFE_WITH_REFUSAL"' in html and 'id="examples-UNSAFE"' in html
    assert html.count('src="data:image/png;base64,') >= 4  # two examples, two images each

    shot = tmp_path / "report.png"
    run = chromium(f"--screenshot={shot}", "--window-size=1280,1600", page.as_uri(), cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000


async def test_comparison_page_in_chromium(tmp_path):
    base = await make_run(tmp_path, "base", lambda s: REASONED)
    tuned = await make_run(tmp_path, "tuned", lambda s: REFUSAL, layout="internvl")
    comparison = render_comparison(base, tuned)
    page = tmp_path / "compare.html"
    page.write_text(comparison.html)
    dom = chromium("--dump-dom", page.as_uri(), cwd=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert len(re.findall(r'<rect class="asr-0"', html)) == len(base["metrics"]["by_category"])
    split_rows = table(html, "compare-split")
    # ASR falls from 100 to 0 overall and on every split: shown as an improvement.
    assert split_rows.count('class="better">-100.00') == 3
    assert "<td>overall</td>" in split_rows
    assert 'class="better">+0.00' not in html
    # McNemar: 4 easy samples all flip from unsafe to safe: exact p = 2 * 0.5**4.
    mcnemar = table(html, "mcnemar")
    assert re.search(r"<td>easy</td><td>4</td><td>4</td><td>0</td><td class=\"p\">0.1250</td>", mcnemar)
    assert re.search(r"<td>overall</td><td>7</td><td>7</td><td>0</td><td class=\"p\">0.0156</td>", mcnemar)
    # The layouts differ, so the page and the caller are warned.
    assert len(comparison.warnings) == 1 and "generation settings differ" in comparison.warnings[0]
    assert 'class="banner warning">generation settings differ' in html
