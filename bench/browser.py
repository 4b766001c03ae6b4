"""The dataset browser at real size, in headless Chromium: a 6000-sample
dataset (12k images) against a 600-sample one, both written by the export's
own writers, opened in the same run.

Prints, as medians of alternating rounds, the time to the first render
(navigation start to the first page drawn, what the reader waits for), the
wall time from navigation to the load event, and the time to show page N
(the page drawn and laid out), each with the ratio 6000 / 600. The browser
draws one page at a time with lazy thumbnails, so these should stay near 1:
the only part that grows with the dataset is reading its JSON.

Run: `python -m bench.browser` (`--rounds 3 --page 10 --sizes 600 6000`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from services.coordinator.browser import write_browser
from tests.support.chromium import CHROMIUM, Page
from tests.support.synthetic_dataset import write_synthetic_dataset

# goTo(N) draws page N; reading the layout afterwards makes it part of the time.
_PAGE_N = """(() => { const started = performance.now(); goTo(%d);
  document.body.getBoundingClientRect(); void document.body.offsetHeight;
  return performance.now() - started; })()"""


def measure(page: Page, url: str, number: int) -> dict[str, float]:
    started = time.perf_counter()
    page.open(url)
    opened = (time.perf_counter() - started) * 1000
    return {"first render": page.run("window.firstRenderAt"), "open to load": opened,
            f"page {number}": page.run(_PAGE_N % number)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[600, 6000], metavar=("BASELINE", "CANDIDATE"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--page", type=int, default=10, help="the page N timed after the first")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print("chromium is not installed (make setup-browser)")
        return 1
    baseline_size, candidate_size = args.sizes
    with tempfile.TemporaryDirectory() as scratch:
        urls = {}
        for size in (baseline_size, candidate_size):
            started = time.perf_counter()
            root = write_synthetic_dataset(Path(scratch) / f"d{size}", size, left_out=size // 20)
            page_file = write_browser(root)
            urls[size] = page_file.as_uri()
            print(f"{size} samples: written in {time.perf_counter() - started:.1f}s, "
                  f"browser.html {page_file.stat().st_size / 1e6:.1f} MB", flush=True)
        times: dict[int, dict[str, list[float]]] = {size: {} for size in urls}
        with Page(Path(scratch) / "profile") as page:
            for size in urls:  # warm-up: the first navigation pays Chromium's start
                measure(page, urls[size], args.page)
            for index in range(args.rounds):
                order = [baseline_size, candidate_size]
                for size in (order if index % 2 == 0 else order[::-1]):
                    for name, value in measure(page, urls[size], args.page).items():
                        times[size].setdefault(name, []).append(value)
    for name in times[baseline_size]:
        candidate = statistics.median(times[candidate_size][name])
        baseline = statistics.median(times[baseline_size][name])
        print(f"{name}: ratio {candidate / baseline:.2f} ({candidate_size} samples {candidate:.0f} ms, "
              f"{baseline_size} samples {baseline:.0f} ms, {args.rounds} rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
