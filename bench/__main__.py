"""`python -m bench` (make bench): run every benchmark, one process each, in turn.

`python -m bench storage judge` runs only those. Each prints its own ratios.
"""

from __future__ import annotations

import subprocess
import sys
import time

BENCHMARKS = ["storage", "results", "stages", "judge", "pipeline", "scale", "trainer", "t2i", "retrieval", "browser"]


def main(argv: list[str]) -> int:
    chosen = argv or BENCHMARKS
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
        return 2
    failed = []
    for name in chosen:
        print(f"\n=== bench.{name} ===", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", f"bench.{name}"])
        print(f"--- bench.{name}: exit {code} in {time.monotonic() - started:.0f}s", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
