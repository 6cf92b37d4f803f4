"""The time limit of one run, as a should_stop for the engine."""
from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], float]

# The deadline fires this many of the longest gaps between two calls before the limit: the
# engine can only stop between two calls (one training step, a chunk of a measurement or of a
# picture), so a run that stopped at the limit itself would end up to one piece late, and a
# measurement or a picture given up at a stop is wasted work.
LOOKAHEAD = 2.0


class Deadline:
    """A should_stop for core.train: true once `seconds` have passed on `clock` (None: never) or
    once `also()` is true (the Stop button, a job nobody watches). Sticky: once true, always true.
    `timed_out` / `requested` say which fired first. The clock starts when the Deadline is made
    (the run got its slot); tests pass a fake clock instead of sleeping.

    It fires early by `lookahead` times the longest gap seen between two calls (the first gap
    counts from the start: loading the data and building the networks), so the piece of work
    that follows still ends before the limit: a run whose pieces are short (core.serve.budget
    keeps them under a second; measurements and pictures are asked between their chunks,
    core.stopping) ends within its limit however slow each one is.

    `late` tells the engine that a stop leaves no time for extras: after a timeout it draws no
    final pictures (core.train keeps the last snapshot's), after a Stop press it draws them
    unless the limit comes near meanwhile."""

    def __init__(self, seconds: float | None, also: Callable[[], bool] | None = None,
                 clock: Clock = time.monotonic, lookahead: float = LOOKAHEAD):
        self.seconds = seconds
        self.also = also
        self.clock = clock
        self.lookahead = lookahead
        self.started = clock()
        self.timed_out = False
        self.requested = False
        self.longest_gap = 0.0
        self._last = self.started

    @property
    def elapsed(self) -> float:
        return self.clock() - self.started

    def restart(self) -> None:
        """Count from now: the run really began (a Ray cluster had it queued until now). The wait in
        the queue is no gap between two checks of the run, so the gaps are measured afresh too."""
        self.started = self._last = self.clock()
        self.longest_gap = 0.0

    @property
    def late(self) -> bool:
        """Timed out, or (after a Stop press, when it is no longer asked) as near the limit as a
        timeout would be."""
        return self.timed_out or (self.seconds is not None
                                  and self.elapsed + self.lookahead * self.longest_gap >= self.seconds)

    @property
    def fired(self) -> bool:
        return self.timed_out or self.requested

    def __call__(self) -> bool:
        if self.fired:
            return True
        now = self.clock()
        self.longest_gap = max(self.longest_gap, now - self._last)
        self._last = now
        if self.seconds is not None and now - self.started + self.lookahead * self.longest_gap >= self.seconds:
            self.timed_out = True
        elif self.also is not None and self.also():
            self.requested = True
        return self.fired
