"""The bounded-backoff helper keeps its time bound on the helper's own clock:
here a fake clock that the fake sleep advances, so a late wake-up (what a
loaded machine does to a sleeper) is made on purpose instead of hoped for."""

from __future__ import annotations

import pytest

from services.common.backoff import Backoff, RetriesExhausted, retry_blocking


class Outage:
    """A call that always fails, and the moments (on the fake clock) its
    attempts started."""

    def __init__(self, clock: "FakeClock") -> None:
        self.clock = clock
        self.started: list[float] = []

    def __call__(self):
        self.started.append(self.clock.now)
        raise ConnectionError("store down")


class FakeClock:
    def __init__(self, oversleep: float = 0.0) -> None:
        self.now = 100.0
        self.oversleep = oversleep
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds + self.oversleep

    def __call__(self) -> float:
        return self.now


POLICY = Backoff(max_attempts=1000, initial_seconds=0.1, max_seconds=0.1, jitter=0.0, max_elapsed_seconds=1.0)


def give_up(clock: FakeClock) -> tuple[Outage, RetriesExhausted]:
    outage = Outage(clock)
    with pytest.raises(RetriesExhausted) as raised:
        retry_blocking(outage, policy=POLICY, transient=lambda e: isinstance(e, ConnectionError),
                       sleep=clock.sleep, clock=clock)
    return outage, raised.value


def test_attempts_stop_at_the_time_bound_and_none_starts_past_it():
    clock = FakeClock()
    outage, exhausted = give_up(clock)
    # 0.1 s apart from 100.0: the attempt at 101.0 is the last within 1 s.
    assert len(outage.started) == exhausted.attempts == 11
    assert outage.started[-1] - outage.started[0] == pytest.approx(1.0)
    assert clock.slept == [pytest.approx(0.1)] * 10  # no delay ending past the bound was waited


def test_a_late_wake_up_past_the_bound_starts_no_attempt():
    # Each sleep ends 0.0125 s late: after the eighth delay the clock reads
    # 100.9, where a ninth delay would still end within the bound, but the
    # wake-up after it comes at 101.0125, so the helper gives up there.
    clock = FakeClock(oversleep=0.0125)
    outage, exhausted = give_up(clock)
    assert max(outage.started) - outage.started[0] <= 1.0
    assert len(outage.started) == exhausted.attempts == 9
    assert len(clock.slept) == 9
    assert "store down" in str(exhausted) and exhausted.seconds > 1.0
