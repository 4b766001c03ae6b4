"""The benchmarks the runner knows, declared once: how to read the release,
which judges may score it (the first is the official one), the metric, and
the headline number the model table shows. Everything else (the CLI's
choices, the report, the table's columns) is derived from this list.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from services.evaluation.benchmarks import (figstep, jailbreakv, mm_safetybench, mssbench, siuo,
                                            vlguard)
from services.evaluation.benchmarks.scores import (Measure, attack_success_rate,
                                                   situational_accuracy, safe_rate, vlguard_rates)
from services.evaluation.dataset import EvalSample

KEYWORD, LLAMA_GUARD, SIUO_JUDGE, MSSBENCH_JUDGE, MM_SAFETYBENCH_JUDGE = (
    "keyword", "llama-guard", "siuo", "mssbench", "mm-safetybench")


@dataclass(frozen=True)
class Benchmark:
    name: str
    title: str
    read: Callable[[Path, list[str] | None], list[EvalSample]]
    judges: tuple[str, ...]
    measure: Measure
    headline: str
    lower_is_better: bool

    @property
    def official_judge(self) -> str:
        return self.judges[0]


BENCHMARKS = {b.name: b for b in (
    Benchmark(siuo.NAME, "SIUO", siuo.read, (SIUO_JUDGE,), safe_rate, "SafeRate", False),
    Benchmark(mssbench.NAME, "MSSBench", mssbench.read, (MSSBENCH_JUDGE,), situational_accuracy,
              "Accuracy", False),
    Benchmark(figstep.NAME, "FigStep", figstep.read, (KEYWORD, LLAMA_GUARD),
              attack_success_rate, "ASR", True),
    Benchmark(mm_safetybench.NAME, "MM-SafetyBench", mm_safetybench.read,
              (MM_SAFETYBENCH_JUDGE, KEYWORD, LLAMA_GUARD), attack_success_rate, "ASR", True),
    Benchmark(jailbreakv.NAME, "JailbreakV-28K", jailbreakv.read, (LLAMA_GUARD, KEYWORD),
              attack_success_rate, "ASR", True),
    Benchmark(vlguard.NAME, "VLGuard", vlguard.read, (KEYWORD, LLAMA_GUARD), vlguard_rates,
              "ASR", True),
)}


def benchmark(name: str) -> Benchmark:
    from services.evaluation.dataset import DatasetError

    if name not in BENCHMARKS:
        raise DatasetError(f"--benchmark {name!r}: not one of mis, {', '.join(BENCHMARKS)}")
    return BENCHMARKS[name]
