"""The time limit of one run, as a should_stop for the engine."""
from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]


class Deadline:
    """A should_stop for core.train: true once `seconds` have passed on `clock` (None: never) or
    once `also()` is true (the Stop button, a job nobody watches). Sticky: once true, always true.
    `timed_out` / `requested` say which fired first. The clock starts when the Deadline is made
    (the run got its slot); tests pass a fake clock instead of sleeping."""

    def __init__(self, seconds: float | None, also: Callable[[], bool] | None = None,
                 clock: Clock = time.monotonic):
        self.seconds = seconds
        self.also = also
        self.clock = clock
        self.started = clock()
        self.timed_out = False
        self.requested = False

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def restart(self) -> None:
        """Count from now: the run really began (a Ray cluster had it queued until now)."""
        self.started = self.clock()

    @property
    def fired(self) -> bool:
        return self.timed_out or self.requested

    def __call__(self) -> bool:
        if self.fired:
            return True
        if self.seconds is not None and self.elapsed >= self.seconds:
            self.timed_out = True
        elif self.also is not None and self.also():
            self.requested = True
        return self.fired
