"""The pace a watcher sees, for the time-left estimates of `mis runs watch`
and `mis train watch`: units per second over the last minute of
observations, so a burst or a stall early on does not skew the estimate."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Pace:
    """Units (steps, samples) per second over the last `window_seconds`."""

    window_seconds: float = 60.0
    samples: list[tuple[float, int]] = field(default_factory=list)

    def observe(self, now: float, count: int) -> float | None:
        if self.samples and count < self.samples[-1][1]:
            self.samples.clear()  # started over, e.g. a gang restart from an earlier checkpoint
        self.samples.append((now, count))
        self.samples = [s for s in self.samples if now - s[0] <= self.window_seconds] or [(now, count)]
        (t0, c0), (t1, c1) = self.samples[0], self.samples[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 and c1 > c0 else None


def duration(seconds: float) -> str:
    """h:mm:ss, short enough for a progress line."""
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
