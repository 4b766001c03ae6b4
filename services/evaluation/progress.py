"""Progress bars for the long phases of an evaluation (generation, judging),
with count, rate and time remaining, drawn by rich on stderr.

The runner only calls `Bars.start(name, total)` and `advance(name)`; tests and
non-interactive callers pass `NoBars`, so nothing is drawn and nothing waits.
"""

from __future__ import annotations

import sys
from typing import Protocol

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, Task,
                           TextColumn, TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text


class Bars(Protocol):
    def start(self, name: str, total: int) -> None: ...

    def advance(self, name: str, amount: int = 1) -> None: ...

    def close(self) -> None: ...


class NoBars:
    def start(self, name: str, total: int) -> None:
        return None

    def advance(self, name: str, amount: int = 1) -> None:
        return None

    def close(self) -> None:
        return None


class RateColumn(ProgressColumn):
    """Items per second (rich's own speed column speaks bytes)."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("  -  /s" if speed is None else f"{speed:5.2f}/s", style="cyan")


class RichBars:
    def __init__(self, console: Console | None = None) -> None:
        self.progress = Progress(
            TextColumn("{task.description:<22}"), BarColumn(), MofNCompleteColumn(), RateColumn(),
            TextColumn("ETA"), TimeRemainingColumn(), TextColumn("elapsed"), TimeElapsedColumn(),
            console=console or Console(file=sys.stderr), transient=False, auto_refresh=console is None)
        self.tasks: dict[str, int] = {}
        self.progress.start()

    def start(self, name: str, total: int) -> None:
        self.tasks[name] = self.progress.add_task(name, total=total)

    def advance(self, name: str, amount: int = 1) -> None:
        self.progress.advance(self.tasks[name], amount)

    def refresh(self) -> None:
        self.progress.refresh()

    def close(self) -> None:
        self.progress.stop()
