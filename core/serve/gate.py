"""The training gate: at most `max_concurrent` trainings at once; the rest wait in a fair line
of at most `max_queue`, each told its place and an estimated wait.

Fair means three things:

* **per visitor**: a visitor (a browser on the page; None for callers that are nobody in
  particular) has at most `max_per_visitor` trainings running and as many waiting. One more
  request is refused at once (VisitorBusy), unless the visitor's waiting request is one nobody
  watches any more (the visitor moved on to other settings): then the new one takes its place.
  A waiting request whose visitor already has its running share is passed over until that run
  ends, so one visitor cannot hold every slot;
* **shortest first, with ageing**: a freed slot goes to the waiting request with the smallest
  `estimate + ageing * arrival` (seconds), so a short job is not stuck behind heavy ones, and a
  heavy job is overtaken only by jobs that arrive within `estimate / ageing` seconds of it:
  nothing waits for ever. All requests age at the same rate, so the order never changes while
  they wait; equal keys keep their arrival order (with no estimates the line is FIFO);
* **told**: on_wait(position, waiting, wait_s) reports the place (1 = next), how many wait, and
  the estimated seconds until a slot (the running runs' remaining estimates and those ahead,
  shared over the slots).

The clock is injectable (tests pass a fake one); callbacks run without the lock.
"""
from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from core.serve.errors import Cancelled, QueueFull
from core.serve.limits import DEFAULT_MAX_CONCURRENT, DEFAULT_MAX_QUEUE, Limits, count

AGEING = 1.0  # seconds of estimate a request makes up for each second it waits

Clock = Callable[[], float]


class GateStats(NamedTuple):
    running: int
    waiting: int


class Place(NamedTuple):
    position: int                  # 1 = next in line
    waiting: int                   # how many wait
    wait_s: float | None = None    # estimated seconds until a slot (None: unknown)


@dataclass(frozen=True)
class SlotInfo:
    waited: float   # seconds spent in the queue
    position: int   # place in line on arrival (0: a slot was free)


class VisitorBusy(QueueFull):
    """The visitor already has as many runs training and waiting as the gate allows."""


@dataclass(eq=False)
class _Entry:
    visitor: str | None
    estimate: float
    key: tuple[float, int]
    abandoned: Callable[[], bool] | None = None
    evicted: bool = False
    started: float = 0.0  # when it got its slot (running entries)
    extra: dict = field(default_factory=dict)


class TrainingGate:
    """At most `max_concurrent` holders at once; the others wait in the fair line above.

    Threads (Streamlit runs each session in its own) call `with gate.slot(...)`. At most
    `max_queue` wait; one more gets QueueFull at once, and a visitor over its share VisitorBusy.
    """

    def __init__(self, max_concurrent: int = DEFAULT_MAX_CONCURRENT, max_queue: int = DEFAULT_MAX_QUEUE,
                 poll: float = 0.25, *, max_per_visitor: int | None = None,
                 ageing: float = AGEING, clock: Clock = time.monotonic):
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}")
        if max_queue < 0:
            raise ValueError(f"max_queue must be at least 0, got {max_queue}")
        if max_per_visitor is not None and max_per_visitor < 1:
            raise ValueError(f"max_per_visitor must be at least 1, got {max_per_visitor}")
        self.max_concurrent = max_concurrent
        self.max_queue = max_queue
        self.max_per_visitor = max_per_visitor
        self.poll, self.ageing, self.clock = poll, ageing, clock
        self._cond = threading.Condition()
        self._running: list[_Entry] = []
        self._queue: list[_Entry] = []  # kept sorted by key
        self._seq = itertools.count()

    def stats(self) -> GateStats:
        with self._cond:
            return GateStats(len(self._running), len(self._queue))

    @contextmanager
    def slot(self, on_wait: Callable[..., Any] | None = None, cancelled: Callable[[], bool] | None = None, *,
             visitor: str | None = None, estimate: float = 0.0,
             abandoned: Callable[[], bool] | None = None) -> Iterator[SlotInfo]:
        """Hold one slot for the body of the with-block; released however the block ends.

        While waiting, on_wait(position, waiting, wait_s) is called about every `poll` seconds
        and whenever the line moves. If cancelled() turns true, or on_wait raises (Streamlit
        raises when a session is rerun or closed), or a newer request of the same visitor takes
        this one's place (only while abandoned() says nobody wants it), the caller leaves the
        line without a slot: Cancelled, or on_wait's own exception, is raised.
        """
        me = self._acquire(on_wait, cancelled, visitor, max(0.0, float(estimate)), abandoned)
        try:
            yield me.extra["info"]
        finally:
            with self._cond:
                self._running.remove(me)
                self._cond.notify_all()

    # -- the policy (under the lock) ---------------------------------------------------------

    def _mine(self, entries: list[_Entry], visitor: str | None) -> list[_Entry]:
        return [e for e in entries if visitor is not None and e.visitor == visitor]

    def _eligible(self, e: _Entry) -> bool:
        return self.max_per_visitor is None or e.visitor is None or \
            len(self._mine(self._running, e.visitor)) < self.max_per_visitor

    def _next(self) -> _Entry | None:
        """Who gets the next free slot: the first eligible request in key order."""
        return next((e for e in self._queue if self._eligible(e)), None)

    def _place(self, me: _Entry) -> Place:
        now = self.clock()
        i = self._queue.index(me)
        ahead = sum(e.estimate for e in self._queue[:i])
        busy = sum(max(0.0, e.estimate - (now - e.started)) for e in self._running)
        return Place(i + 1, len(self._queue), (ahead + busy) / self.max_concurrent)

    def _admit(self, me: _Entry) -> None:
        """Room for `me` in the line, or QueueFull / VisitorBusy."""
        if self.max_per_visitor is not None and me.visitor is not None:
            mine = self._mine(self._queue, me.visitor)
            if len(mine) >= self.max_per_visitor:
                # The visitor moved on: a waiting request nobody watches gives way to the new one.
                stale = [e for e in mine if e.abandoned is not None and e.abandoned()]
                if len(mine) - len(stale) >= self.max_per_visitor:
                    running = len(self._mine(self._running, me.visitor))
                    raise VisitorBusy(
                        f"You already have {count(running, 'run', 'runs')} training and "
                        f"{count(len(mine), 'run', 'runs')} waiting, as many as the demo allows one visitor: "
                        "wait for them or press Stop, then try again (an experiment that was run before is "
                        "served at once).")
                for e in stale[: len(mine) - self.max_per_visitor + 1]:
                    e.evicted = True
                    self._queue.remove(e)
                self._cond.notify_all()
        if len(self._queue) >= self.max_queue:
            raise QueueFull(
                f"The demo is busy: {count(len(self._running), 'run is', 'runs are')} training and "
                f"{count(len(self._queue), 'is', 'are')} waiting, as many as it queues; please try "
                f"again in a minute (an experiment that was run before is served at once).")

    def _enqueue(self, me: _Entry) -> None:
        self._queue.append(me)
        self._queue.sort(key=lambda e: e.key)

    def _take(self, me: _Entry, waited: float, position: int) -> None:
        self._queue.remove(me)
        me.started = self.clock()
        me.extra["info"] = SlotInfo(waited, position)
        self._running.append(me)
        self._cond.notify_all()  # the next in line may take another free slot

    # -- waiting ------------------------------------------------------------------------------

    def _acquire(self, on_wait, cancelled, visitor, estimate, abandoned) -> _Entry:
        t0 = self.clock()
        me = _Entry(visitor, estimate, (estimate + self.ageing * t0, next(self._seq)), abandoned)
        with self._cond:
            self._enqueue(me)
            if len(self._running) < self.max_concurrent and self._next() is me:
                self._take(me, 0.0, 0)  # a free slot and nobody before it: no line at all
                return me
            self._queue.remove(me)
            self._admit(me)  # it has to wait: is there room for it in the line?
            self._enqueue(me)
            arrived_at = self._queue.index(me) + 1
        try:
            while True:
                with self._cond:
                    if me.evicted:
                        raise Cancelled("A newer request of yours took this one's place in line.")
                    if len(self._running) < self.max_concurrent and self._next() is me:
                        self._take(me, self.clock() - t0, arrived_at)
                        return me
                    place = self._place(me)
                # Callbacks run without the lock: they may be slow, or raise.
                if cancelled is not None and cancelled():
                    raise Cancelled("The request was abandoned while it waited for a training slot.")
                if on_wait is not None:
                    on_wait(*place)
                with self._cond:
                    if not me.evicted and not (len(self._running) < self.max_concurrent and self._next() is me):
                        self._cond.wait(self.poll)
        except BaseException:
            with self._cond:
                if me in self._queue:
                    self._queue.remove(me)
                self._cond.notify_all()  # the ones behind move up
            raise


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _about(seconds: float) -> str:
    if seconds < 90:
        return f"about {max(5, round(seconds / 5) * 5):.0f} s"
    return f"about {round(seconds / 60):.0f} min"


def waiting_message(position: int, waiting: int, wait_s: float | None = None) -> str:
    """What the page shows from on_wait: 'Waiting for a training slot: you are 3rd in line
    (5 waiting); estimated wait about 40 s.'"""
    if position <= 1:
        text = "Waiting for a training slot: you are next"
    else:
        text = f"Waiting for a training slot: you are {_ordinal(position)} in line ({waiting} waiting)"
    if wait_s is not None:
        text += f"; estimated wait {_about(wait_s)}"
    return text + "."


GATE: TrainingGate | None = None
_GATE_LOCK = threading.Lock()


def get_gate() -> TrainingGate:
    """The gate all sessions of this process share, built on first use from Limits.from_env()."""
    global GATE
    with _GATE_LOCK:
        if GATE is None:
            lim = Limits.from_env()
            GATE = TrainingGate(lim.max_concurrent, lim.max_queue, max_per_visitor=lim.max_per_visitor)
        return GATE
