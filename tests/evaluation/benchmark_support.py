"""The benchmark fixtures (tests/evaluation/data/benchmarks/<name>/, each in its
release's layout) and a responses.jsonl writer for one-image samples."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

FIXTURES = Path(__file__).parent / "data" / "benchmarks"


def fixture_copy(name: str, into: Path) -> Path:
    """A writable copy of one benchmark's fixture (to break on purpose)."""
    return Path(shutil.copytree(FIXTURES / name, into / name))


def write_answers(out_dir: Path, samples, answer) -> None:
    """responses.jsonl as a finished generation phase would leave it."""
    from services.evaluation.runner import sample_fields

    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "responses.jsonl").open("w") as file:
        for sample in samples:
            file.write(json.dumps({**sample_fields(sample), "response": answer(sample)}) + "\n")
