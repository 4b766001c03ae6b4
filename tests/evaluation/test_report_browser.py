"""The HTML reports, checked in headless Chromium: the page loads, the bars,
tables and example images are in the rendered DOM, and a screenshot is taken."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from services.common.settings import load_settings
from services.evaluation.dataset import load_samples
from services.evaluation.judging import InProcessJudge
from services.evaluation.report import build_report, render_comparison, write_html, write_json
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


async def make_run(tmp_path: Path, name: str, answer) -> dict:
    samples = load_samples(["easy", "hard"], make_mis_test(tmp_path / "MIS_Test"))
    out = tmp_path / name
    write_responses(out, samples, answer)
    settings = load_settings(Settings, {"MIS_JUDGE_CACHE": "false"})
    judge = InProcessJudge(Judge.from_settings(settings), "keyword")
    try:
        await run_evaluation(EvalPlan(samples, None, [judge], out))
    finally:
        await judge.close()
    report = build_report(out, ["keyword"], name)
    write_json(report, out / "report.json")
    write_html(report, out / "report.html")
    return report


async def test_report_page_in_chromium(tmp_path):
    report = await make_run(tmp_path, "base", lambda s: REFUSAL if s.id.endswith("1") else REASONED)
    page = tmp_path / "base" / "report.html"
    dom = chromium("--dump-dom", page.as_uri(), cwd=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert re.search(r'<svg[^>]*id="category-bars"', html)
    # One bar per category, split into classes.
    assert len(re.findall(r'<rect class="seg ', html)) >= len(report["metrics"]["by_category"])
    split_table = html.split('id="per-split"')[1].split("</table>")[0]
    assert split_table.count("<tr>") == 1 + 2  # header + easy + hard
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
    tuned = await make_run(tmp_path, "tuned", lambda s: REFUSAL)
    page = tmp_path / "compare.html"
    page.write_text(render_comparison(base, tuned))
    dom = chromium("--dump-dom", page.as_uri(), cwd=tmp_path)
    assert dom.returncode == 0, dom.stderr[-2000:]
    html = dom.stdout
    assert len(re.findall(r'<rect class="asr-0"', html)) == len(base["metrics"]["by_category"])
    split_rows = html.split('id="compare-split"')[1].split("</table>")[0]
    # ASR falls from 100 to 0 on every split: shown as an improvement.
    assert split_rows.count('class="better">-100.00') == 2
    # Unchanged metrics are not coloured as improvements.
    assert 'class="better">+0.00' not in html
