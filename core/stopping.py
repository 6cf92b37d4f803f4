"""Stop checks inside the long pieces of a run: measurements, snapshots and final pictures.

The training loop (core.train) asks its should_stop between training steps. The pieces around
them are long too: measuring every example through a wide CNN, or drawing its pictures, can take
seconds. They go in chunks (core.metrics, core.units, core.artifacts), and those accept a
`between` hook, called between two chunks (never before the first: a measurement of one chunk
asks nothing). A hook that gives the piece up raises Stopped; what the piece had computed is
dropped, so a run keeps only whole epochs and whole pictures.

Two hooks, made by Checks:

* `measuring`: while training, at most every `every_s` seconds since the last question, ask
  should_stop; true gives the piece up (a measurement, a snapshot).
* `drawing`: the final pictures. A Stop press lets them finish (they are the last measured
  epoch's, and the Stop button promises them); only a stop that is `late` gives them up.

`late(should_stop)` reads should_stop's `late` attribute: core.serve.deadline.Deadline's says its
time limit leaves no room for more work. A plain callable is never late. `time_limited` reads its
`seconds` (None: no limit).
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator

ShouldStop = Callable[[], bool]
Between = Callable[[], None]


def chunk_starts(n: int, rows: int, between: Between | None = None) -> Iterator[int]:
    """0, rows, 2 * rows, ... below n: where each chunk of a chunked pass starts, with between()
    called before every chunk but the first (the hooks above; it may give the pass up by raising)."""
    for lo in range(0, n, rows):
        if lo and between is not None:
            between()
        yield lo


class Stopped(Exception):
    """A piece of work given up at a stop check (Checks' hooks raise it, core.train catches it)."""


def late(should_stop: ShouldStop | None) -> bool:
    """Whether a stop leaves no time for extras (the final pictures)."""
    return bool(getattr(should_stop, "late", False))


def time_limited(should_stop: ShouldStop | None) -> bool:
    """Whether should_stop carries a time limit (core.serve.deadline.Deadline with seconds set)."""
    return getattr(should_stop, "seconds", None) is not None


class Checks:
    """One run's stop questions: `ask()` always asks, `due()` says whether `every_s` seconds
    have passed since the last question (of any kind), and the two hooks above. `clock` is
    time.perf_counter; tests pass a value of every_s (0 or inf) instead of moving it."""

    def __init__(self, should_stop: ShouldStop, every_s: float, clock: Callable[[], float] = time.perf_counter):
        self.should_stop, self.every_s, self.clock = should_stop, every_s, clock
        self.last = clock()
        self.stopped = False  # should_stop said true (it is sticky: no need to ask it again)

    def ask(self) -> bool:
        self.last = self.clock()
        self.stopped = self.stopped or bool(self.should_stop())
        return self.stopped

    def due(self) -> bool:
        return self.clock() - self.last >= self.every_s

    def measuring(self) -> None:
        if self.due() and self.ask():
            raise Stopped

    def drawing(self) -> None:
        # A run that has not stopped yet still asks (a deadline notices its limit only when asked);
        # after a stop only `late` is read. A Stop press is no reason to give the pictures up.
        if not self.stopped and self.due():
            self.ask()
        if late(self.should_stop):
            if not self.stopped:
                self.ask()  # so the deadline records that it timed out (core.serve keeps such runs)
            raise Stopped
