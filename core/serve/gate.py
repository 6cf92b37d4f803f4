"""The training gate: at most `max_concurrent` trainings at once, the rest in a strict
first-come-first-served line of at most `max_queue`, each told its place."""
from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple

from core.serve.errors import Cancelled, QueueFull
from core.serve.limits import DEFAULT_MAX_CONCURRENT, DEFAULT_MAX_QUEUE, Limits, count


class GateStats(NamedTuple):
    running: int
    waiting: int


@dataclass(frozen=True)
class SlotInfo:
    waited: float   # seconds spent in the queue
    position: int   # place in line on arrival (0: a slot was free)


class TrainingGate:
    """At most `max_concurrent` holders at once; the others wait in strict FIFO order.

    Threads (Streamlit runs each session in its own) call `with gate.slot(...)`. A newcomer
    takes a free slot only if nobody is waiting, and only the head of the line takes a freed
    slot, so nobody overtakes. At most `max_queue` wait; one more gets QueueFull at once.
    """

    def __init__(self, max_concurrent: int = DEFAULT_MAX_CONCURRENT, max_queue: int = DEFAULT_MAX_QUEUE,
                 poll: float = 0.25):
        if max_concurrent < 1:
            raise ValueError(f"max_concurrent must be at least 1, got {max_concurrent}")
        if max_queue < 0:
            raise ValueError(f"max_queue must be at least 0, got {max_queue}")
        self.max_concurrent = max_concurrent
        self.max_queue = max_queue
        self.poll = poll
        self._cond = threading.Condition()
        self._running = 0
        self._queue: deque[object] = deque()

    def stats(self) -> GateStats:
        with self._cond:
            return GateStats(self._running, len(self._queue))

    @contextmanager
    def slot(self, on_wait: Callable[[int, int], Any] | None = None,
             cancelled: Callable[[], bool] | None = None) -> Iterator[SlotInfo]:
        """Hold one slot for the body of the with-block; released however the block ends.

        While waiting, on_wait(position, waiting) is called about every `poll` seconds and
        whenever the line moves (position is 1-based). If cancelled() turns true, or on_wait
        raises (Streamlit raises when a session is rerun or closed), the caller leaves the line
        without taking a slot: Cancelled, or on_wait's own exception, is raised.
        """
        info = self._acquire(on_wait, cancelled)
        try:
            yield info
        finally:
            with self._cond:
                self._running -= 1
                self._cond.notify_all()

    def _ready(self, me: object) -> bool:
        return self._queue[0] is me and self._running < self.max_concurrent

    def _acquire(self, on_wait, cancelled) -> SlotInfo:
        t0 = time.monotonic()
        me = object()
        with self._cond:
            if not self._queue and self._running < self.max_concurrent:
                self._running += 1
                return SlotInfo(0.0, 0)
            if len(self._queue) >= self.max_queue:
                raise QueueFull(
                    f"The demo is busy: {count(self._running, 'run is', 'runs are')} training and "
                    f"{count(len(self._queue), 'is', 'are')} waiting, as many as it queues; please try "
                    f"again in a minute (an experiment that was run before is served at once).")
            self._queue.append(me)
            arrived_at = len(self._queue)
        try:
            while True:
                with self._cond:
                    if self._ready(me):
                        self._queue.popleft()
                        self._running += 1
                        self._cond.notify_all()  # the next in line may take another free slot
                        return SlotInfo(time.monotonic() - t0, arrived_at)
                    position, waiting = self._queue.index(me) + 1, len(self._queue)
                # Callbacks run without the lock: they may be slow, or raise.
                if cancelled is not None and cancelled():
                    raise Cancelled("The request was abandoned while it waited for a training slot.")
                if on_wait is not None:
                    on_wait(position, waiting)
                with self._cond:
                    if not self._ready(me):
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


def waiting_message(position: int, waiting: int) -> str:
    """What the page shows from on_wait: 'Waiting for a training slot: you are 3rd in line.'"""
    if position <= 1:
        return "Waiting for a training slot: you are next."
    return f"Waiting for a training slot: you are {_ordinal(position)} in line ({waiting} waiting)."


GATE: TrainingGate | None = None
_GATE_LOCK = threading.Lock()


def get_gate() -> TrainingGate:
    """The gate all sessions of this process share, built on first use from Limits.from_env()."""
    global GATE
    with _GATE_LOCK:
        if GATE is None:
            lim = Limits.from_env()
            GATE = TrainingGate(lim.max_concurrent, lim.max_queue)
        return GATE
