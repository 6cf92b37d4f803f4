"""Measuring a run: `record(epoch, net)` after each trained epoch, `flush()` at the end.

Every measured epoch is handed to the caller's `commit(epoch, seconds, metrics, finite)` in epoch
order and in the caller's thread, whatever the recorder: what is done with a figure (curves,
divergence, live progress) never runs beside training. Two recorders, chosen by MeasurePolicy:

- Recorder measures the network at once, in the training thread.
- OverlappedRecorder measures copies of the weights in a second thread while training goes on:
  a small run uses one core, so the other one is free. Snapshots of several epochs are measured in
  one pass (see snapshots_per_pass), into two stacks that take turns: one is filled while the
  other is measured.

Both give the same numbers to the last bit (tests/test_recorder.py): measuring has its own random
stream, and a stacked pass draws exactly what its snapshots would draw one after another.

Recorder's `between` hook is called between the chunks of a measurement (core.stopping): when it
raises, record() raises and the epoch is neither measured nor committed. The overlapped recorder
measures in its own thread and takes no hook: core.train measures serially under a time limit.
"""
from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from core.data import Dataset
from core.metrics import Previous, chunk_rows, measure
from core.models import BatchedNet, SeedStreams
from core.threads import CORES, thread_setup

# commit(epoch, seconds since the run started, {metric: (S,) or (S, L)}, (S,) seeds still finite)
Commit = Callable[[int, float, dict[str, np.ndarray], np.ndarray], None]


@dataclass(frozen=True)
class MeasurePolicy:
    """How a run is measured. The default is the lab's; the benchmark and the tests pass others.

    every_epoch: measure every epoch; False measures epoch 0 and the last one only (the benchmark
        prices the metrics that way). Training is the same either way: measuring has its own
        random stream.
    overlap: measure in a second thread beside training: True, False, or "auto", which overlaps
        only when the run trains on one thread, a second core is free, and the run has no thread
        cap below 2. Hosted mode caps every run at one thread because it trains two runs at once
        on two cores: no core is free for a third thread, so its runs measure serially.
    max_snapshots, stack_elements: snapshots measured per pass (see snapshots_per_pass).
    snapshot_wait_s: a pass starts when its oldest snapshot is this old, full or not.
    one_training_thread: a run whose steps are large enough for every core (core.threads) trains
        on one thread instead, when that gives measuring every epoch a core of its own (see
        training_threads). False keeps every core on the steps, and measures between them.
    """

    every_epoch: bool = True
    overlap: bool | Literal["auto"] = "auto"
    # Two threads of small torch ops queue for Python's lock (GIL) at every op; stacking makes the
    # measuring thread's ops k times larger and k times rarer. On W1 (5 seeds) 4 snapshots per
    # pass took the cost of measuring beside training from +80% to about +28% (bench), 8 to about
    # +23%, for 30 MB more peak memory (341 MB against 312 MB).
    max_snapshots: int = 8
    stack_elements: int = 2**23  # layer outputs per evaluation chunk, over all snapshots of a pass
    snapshot_wait_s: float = 0.05
    one_training_thread: bool = True

    def __post_init__(self):
        if self.overlap not in (True, False, "auto"):
            raise ValueError(f"overlap must be True, False or 'auto', not {self.overlap!r}")
        if self.max_snapshots < 1:
            raise ValueError("max_snapshots must be at least 1")

    def measures(self, epoch: int, last: int) -> bool:
        return self.every_epoch or epoch in (0, last)

    def overlaps(self, threads: int, max_threads: int | None, cores: int = CORES) -> bool:
        """Whether a run on `threads` threads (capped at max_threads) measures in a second thread."""
        if not self.every_epoch or self.overlap is False:
            return False  # two measured epochs are not worth a thread
        if self.overlap is True:
            return True
        free = cores if max_threads is None else min(cores, max_threads)
        return threads == 1 and free >= 2

    def training_threads(self, threads: int, max_threads: int | None, cores: int = CORES) -> int:
        """The training thread's count for a run core.threads gives `threads`: one where measuring
        every epoch then goes beside it, on a core of its own; else `threads`.

        Measuring every epoch is 35-40% of a run's arithmetic (an eval pass over every example and
        two over the probe, against three passes per training example; W2's point: 0.51 s of CPU
        in the training thread, 0.34 s in the measuring one). Beside training it keeps the second
        core busy, as two OpenMP threads on each step would, but with no barrier at every op:
        when anything else takes a core (the page, another run), the two OpenMP threads of a step
        wait for each other op after op, and W2's point took 6.7-20 s on two threads against
        0.8-1.6 s on one (loaded machine, docs/PERFORMANCE.md). Threads change no figure (tested)."""
        if threads > 1 and self.one_training_thread and self.overlaps(1, max_threads, cores):
            return 1
        return threads


def make_recorder(policy: MeasurePolicy, net: BatchedNet, data: Dataset, streams: SeedStreams, commit: Commit,
                  *, last_epoch: int, t0: float, threads: int, max_threads: int | None = None,
                  cores: int = CORES, between: Callable[[], None] | None = None) -> Recorder:
    """The recorder `policy` asks for, for a run started at perf_counter() == t0 that trains
    `net` on `threads` threads. `streams` is the measuring stream: it goes on drawing after the
    run (core.artifacts), so it is the caller's, not the recorder's. between: see above (the
    serial recorder's only)."""
    if policy.overlaps(threads, max_threads, cores):
        return OverlappedRecorder(policy, net, data, streams, commit, last_epoch, t0, threads, cores)
    return Recorder(policy, net, data, streams, commit, last_epoch, t0, between)


class Recorder:
    """Measures each epoch at once, in the training thread, and commits it. The overlapped
    recorder shares its measuring and committing. Use either as a context manager: leaving it
    ends the measuring thread, if any."""

    def __init__(self, policy: MeasurePolicy, net: BatchedNet, data: Dataset, streams: SeedStreams,
                 commit: Commit, last_epoch: int, t0: float, between: Callable[[], None] | None = None):
        self.policy, self.data, self.streams, self.commit = policy, data, streams, commit
        self.last_epoch, self.t0, self.S = last_epoch, t0, net.S
        self.between = between
        self._prev: Previous | None = None  # the epoch before's on-states and dead units (mask_flip, revived)
        self._parts: ThreadPoolExecutor | None = None  # see OverlappedRecorder

    def record(self, epoch: int, net: BatchedNet) -> None:
        """Measure `net`, just trained for `epoch` epochs, if the policy asks for this epoch."""
        if self.policy.measures(epoch, self.last_epoch):
            seconds = time.perf_counter() - self.t0
            self._commit([(epoch, seconds)], *self._measure(net, 1))

    def flush(self) -> None:
        """Commit every epoch recorded so far."""

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def _measure(self, net: BatchedNet, k: int) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Measure k snapshots (k * S slices of `net`, epochs in order); in the measuring thread
        when overlapped, so passes run one at a time, in epoch order."""
        d = self.data
        m, self._prev = measure(net, d.x_train, d.y_train, d.x_val, d.y_val,
                                self.streams if k == 1 else self.streams.repeated(k), self._prev, snapshots=k,
                                pool=self._parts, between=self.between)
        ok = finite_seeds(net, m["train_loss"] + m["val_loss"])  # one pass over the weights
        # Converted here, once per pass: in the measuring thread this is off the training path.
        return {key: v.double().numpy() for key, v in m.items()}, ok.numpy()

    def _commit(self, epochs: list[tuple[int, float]], m: dict[str, np.ndarray], ok: np.ndarray) -> None:
        S = self.S
        for j, (epoch, seconds) in enumerate(epochs):
            mine = slice(j * S, (j + 1) * S)
            self.commit(epoch, seconds, {k: v[mine] for k, v in m.items()}, ok[mine])


class OverlappedRecorder(Recorder):
    """An epoch is committed at the latest when the next one has been trained and measured
    (serially it comes before), or at flush()."""

    def __init__(self, policy: MeasurePolicy, net: BatchedNet, data: Dataset, streams: SeedStreams,
                 commit: Commit, last_epoch: int, t0: float, threads: int, cores: int = CORES):
        super().__init__(policy, net, data, streams, commit, last_epoch, t0)
        self.K = snapshots_per_pass(net, len(data.x_train) + len(data.x_val), policy)
        first = net.stacked(self.K)
        self._stacks = [first, net.stacked(self.K, share_buffers=first)]  # measured one at a time
        self._pool = measuring_pool(threads)
        # Variants as slices with several activations (core.slices) are measured activation by
        # activation, parts that share nothing: the others in threads of their own, so a group's
        # measuring, the larger share of its work, is not left to one core while training waits
        # for it (core.metrics._by_activation; the same numbers either way).
        runs = getattr(net.act, "runs", ())
        if len(runs) > 1 and cores >= 2:
            self._parts = ThreadPoolExecutor(min(len(runs) - 1, cores - 1), thread_name_prefix="lab-measure-part",
                                             initializer=thread_setup, initargs=(threads,))
        self._pending: deque[tuple[BatchedNet, list[tuple[int, float]], Future]] = deque()
        self._batch: list[tuple[int, float]] = []  # (epoch, seconds) of the snapshots in _stacks[0]
        self._last_record = 0.0
        self._switch = _short_switch_interval()

    def __enter__(self) -> OverlappedRecorder:
        self._switch.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._switch.__exit__(None, None, None)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)
            if self._parts is not None:
                self._parts.shutdown(wait=True, cancel_futures=True)

    def record(self, epoch: int, net: BatchedNet) -> None:
        if not self.policy.measures(epoch, self.last_epoch):
            return
        seconds = time.perf_counter() - self.t0
        while self._pending and self._pending[0][2].done():  # report what is measured as soon as possible
            self._wait_oldest()
        if not self._batch:  # this stack is refilled: its last pass must be over
            while self._pending and self._pending[0][0] is self._stacks[0]:
                self._wait_oldest()
        self._stacks[0].put(len(self._batch), net)
        self._batch.append((epoch, seconds))
        # A pass waits for K snapshots, but never long: epoch 0 goes at once, and a snapshot that
        # would be older than snapshot_wait_s by the next epoch's end (judged by the last epoch's
        # length) does not wait for it.
        epoch_s, self._last_record = seconds - self._last_record, seconds
        if len(self._batch) == self.K or epoch == 0 \
                or seconds - self._batch[0][1] + epoch_s > self.policy.snapshot_wait_s:
            self._submit()

    def flush(self) -> None:
        self._submit()
        while self._pending:
            self._wait_oldest()

    def _submit(self) -> None:
        if self._batch:
            stack, k = self._stacks[0], len(self._batch)
            self._pending.append((stack, self._batch, self._pool.submit(self._measure, stack.head(k * self.S), k)))
            self._stacks.reverse()
            self._batch = []

    def _wait_oldest(self) -> None:
        _, epochs, fut = self._pending.popleft()
        self._commit(epochs, *fut.result())


def snapshots_per_pass(net: BatchedNet, n_rows: int, policy: MeasurePolicy) -> int:
    """As many snapshots as fit policy.stack_elements of layer outputs per evaluation chunk, at
    most policy.max_snapshots."""
    if net.cnn:
        # A grouped convolution over k*S groups rounds differently (last bits) from one over S,
        # which would make a CNN's figures depend on how epochs happened to be grouped.
        return 1
    per_snapshot = net.S * min(n_rows, chunk_rows(net)) * net.units_per_input
    return max(1, min(policy.max_snapshots, policy.stack_elements // per_snapshot))


def finite_seeds(net: BatchedNet, loss: torch.Tensor) -> torch.Tensor:
    """(S,) bool: the seed's loss and every one of its weights are finite."""
    ok = torch.isfinite(loss)
    for p in net.params:
        ok &= torch.isfinite(p.detach().view(net.S, -1)).all(1)
    return ok


def measuring_pool(threads: int) -> ThreadPoolExecutor:
    """The one-thread pool that measures beside training, set up as the training thread is."""
    return ThreadPoolExecutor(1, thread_name_prefix="lab-measure", initializer=thread_setup, initargs=(threads,))


# Two threads of small torch ops hand Python's lock (GIL) back and forth thousands of times a
# second; with the default 5 ms switch interval a thread that wants it back can wait behind the
# other one's Python code. 0.2 ms made W1 ~8% faster when every epoch was measured on its own;
# with several epochs per pass it is within noise (0.79 s against 0.81 s at 5 ms, 5 runs), and
# still bounds the wait behind a long stretch of Python (numpy's, a chart's) in the other thread.
# The interval is process-wide, and overlapped runs may run at once (several sessions of a
# server): the first one in sets it, the last one out restores it.
SWITCH_INTERVAL_S = 0.0002
_switch_lock = threading.Lock()
_switch_users = [0, 0.0]  # runs inside, interval before the first one


@contextmanager
def _short_switch_interval():
    with _switch_lock:
        if _switch_users[0] == 0:
            _switch_users[1] = sys.getswitchinterval()
            sys.setswitchinterval(min(SWITCH_INTERVAL_S, _switch_users[1]))
        _switch_users[0] += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users[0] -= 1
            if _switch_users[0] == 0:
                sys.setswitchinterval(_switch_users[1])
