"""The progress bars show count, rate and time remaining."""

from __future__ import annotations

import io
import re

from rich.console import Console

from services.evaluation.progress import RichBars


def test_bars_show_count_rate_and_eta():
    screen = io.StringIO()
    bars = RichBars(Console(file=screen, force_terminal=True, width=140, color_system=None))
    bars.start("generating", 10)
    for _ in range(4):
        bars.advance("generating")
    bars.refresh()
    bars.close()
    last = [line for line in re.split(r"[\r\n]", screen.getvalue()) if "generating" in line][-1]
    assert "4/10" in last
    assert re.search(r"\d+\.\d\d/s", last)  # a rate, in items per second
    assert re.search(r"ETA \d+:\d\d:\d\d", last)
