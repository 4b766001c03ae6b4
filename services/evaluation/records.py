"""The run folder's JSONL files, appended to as work finishes so a stopped
run loses at most what was in flight and resumes where it stopped.

A later row for an id replaces an earlier one (a retried error becomes a
result); rows are flushed one by one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable


def read_rows(path: Path) -> dict[str, dict]:
    """The latest row per id; a torn last line (a run killed mid-write) is ignored."""
    rows: dict[str, dict] = {}
    if not path.exists():
        return rows
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        rows[str(row["id"])] = row
    return rows


class RowWriter:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._needs_newline = path.exists() and path.stat().st_size > 0 and \
            not path.read_bytes().endswith(b"\n")
        self._file = path.open("a")
        if self._needs_newline:
            self._file.write("\n")

    def write(self, row: dict) -> None:
        self._file.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
        self._file.flush()

    def write_all(self, rows: Iterable[dict]) -> None:
        for row in rows:
            self.write(row)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> "RowWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
