"""Shared trainings: one job per experiment and process, watched by every request for it.

The registry (`JOBS`, one per process) is the only place where identical requests meet: a
request joins the job of its key, creating it if there is none, and watches it. A job:

* trains once, in its own thread, behind the gate and under the time limit, through a *runner*
  (below), and stores its result if it completed (ok or diverged); a run stopped at the time
  limit is kept as a partial run (core.serve.partial), one stopped otherwise is not kept;
* trains once across processes too: it takes the experiment's claim in the store before it
  trains (core.store.claims) and releases it after storing. If another process holds the claim,
  the job waits for that result (to its watchers it waits in line) and serves it;
* owns its result. The runner writes the live Experiment in the job's thread and nothing else
  reads it: after an epoch the job copies it there (frozen arrays, snapshot.frozen_copy) and
  publishes the copy under its lock; watchers read `snapshot()`. Copies are taken at most every
  PUBLISH_MIN_S, and less often when copying is slow (at most PUBLISH_SHARE of the training
  thread's time), plus at the start of every variant and at the end;
* stops itself when nobody watches: at once when the last watcher leaves with stop=True (the
  Stop button), ORPHAN_GRACE_S after the last watcher vanished (a Streamlit rerun raises in the
  watcher's callbacks; asking again within the grace period rejoins the same training).

The runner is the seam for other backends (threads today, another process or a cluster later):

    runner(base, variants, on_epoch, should_stop, max_threads) -> Experiment

It trains `variants` (name -> overrides of `base`) and returns the finished Experiment. It calls
on_epoch(experiment, variant_index, epoch) after every measured epoch, from the job's thread,
with the experiment consistent (not written during the call); it calls should_stop() often and
ends early (status "stopped") once it is true; it uses at most max_threads threads (None: its
own choice). `thread_runner`, core.train.run_experiment in the job's thread, is the default;
with RELU_LAB_RAY_ADDRESS set (Limits.ray_address) it is core.serve.ray_runner's, on Ray.

No streamlit here.
"""
from __future__ import annotations

import logging
import math
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.config import Config
from core.results import Experiment
from core.serve.deadline import Clock, Deadline
from core.serve.errors import Cancelled
from core.serve.gate import TrainingGate
from core.serve.limits import Limits
from core.serve.snapshot import freeze, frozen_copy
from core.store import STORABLE, claim_or_wait, summarize

OnEpoch = Callable[[Experiment, int, int], Any]
Runner = Callable[[Config, dict[str, dict[str, Any]], OnEpoch, Callable[[], bool], int | None], Experiment]
JobKey = tuple[str, str]  # (the run store's resolved path, the experiment's store key)

ORPHAN_GRACE_S = 2.0    # a job whose watchers all vanished keeps going this long (a rerun rejoins)
STOPPED_KEPT = 4        # jobs a Stop ended, kept until their page collects them (JobRegistry.stopped_job)
PUBLISH_MIN_S = 0.05    # snapshots at most this often (watchers look every 0.1 s)
PUBLISH_SHARE = 0.1     # and copying takes at most about this share of the training thread

log = logging.getLogger(__name__)


def thread_runner(base: Config, variants: dict[str, dict[str, Any]], on_epoch: OnEpoch,
                  should_stop: Callable[[], bool], max_threads: int | None) -> Experiment:
    """The default runner: core.train.run_experiment in the calling (the job's) thread."""
    import core.train as train  # looked up at call time: tests count trainings by replacing it

    return train.run_experiment(base, variants, on_epoch=on_epoch, should_stop=should_stop, max_threads=max_threads)


def default_runner(limits: Limits) -> Runner:
    """The runner the environment asks for: Ray's at limits.ray_address, else thread_runner."""
    if limits.ray_address:
        from core.serve.ray_runner import RayRunner  # Ray is imported only when asked for

        return RayRunner(limits.ray_address)
    return thread_runner


def job_key(store, key: str) -> JobKey:
    where = str(store.path)
    return (where if "://" in where else str(Path(where).resolve())), key  # a database URL is no file


@dataclass(frozen=True)
class Progress:
    """A published snapshot: a frozen copy of the experiment after `epoch` of variant `variant`."""

    experiment: Experiment
    variant: int
    epoch: int
    version: int  # grows with every snapshot: a watcher redraws when it changed


class Job:
    """One training of one experiment, shared by every request for it (see the module docstring)."""

    def __init__(self, registry: JobRegistry, key: JobKey, base: Config, variants: dict[str, dict[str, Any]], *,
                 title: str, preset: str, limits: Limits, store, gate: TrainingGate, runner: Runner | None = None,
                 visitor: str | None = None, estimate: float = 0.0, summary: dict | None = None):
        self.registry, self.key = registry, key
        self.visitor, self.estimate = visitor, estimate  # whose it is in the gate's line, its seconds
        self.summary = dict(summary or {})  # extra fields of its store summary (who may see it)
        self.base, self.variants, self.title, self.preset = base, variants, title, preset
        self.limits, self.store, self.gate = limits, store, gate
        self.runner = runner or default_runner(limits)
        # Who watches; guarded by registry.lock.
        self.watchers = 0
        self.closed = False            # takes no new watchers
        self.stop_requested = False
        self._orphaned_at: float | None = None
        # What watchers read while it runs; guarded by self._lock.
        self._lock = threading.Lock()
        self._queue_state: tuple[int, int, float | None] | None = None
        self._progress: Progress | None = None
        # Written by the job's thread before `done` is set; read by watchers after it is.
        self.result: Experiment | None = None
        self.error: BaseException | None = None
        self.from_store = False        # stored meanwhile (by another process): not trained here
        self.trained = False
        self.waited = 0.0
        self.deadline: Deadline | None = None
        # Wall-clock (time.time()) seconds when the slot was taken and given back: what a load
        # test compares across jobs (`deadline.elapsed` read later also counts the work after it).
        self.slot_span: tuple[float, float] | None = None
        self.store_warnings: list[str] = []
        self.done = threading.Event()
        # The job's thread's own.
        self._last = (0, 0)
        self._published_at = -math.inf
        self._publish_every = registry.publish_min_s

    # -- watchers ---------------------------------------------------------------------------

    def snapshot(self) -> Progress | None:
        """The latest published copy (None before the first epoch). Its arrays are read-only;
        snapshot.view() gives a private, renamed view of it."""
        with self._lock:
            return self._progress

    def queue_state(self) -> tuple[int, int, float | None] | None:
        """(place in line, how many wait, estimated seconds to a slot) while the job waits for
        a training slot, else None."""
        with self._lock:
            return self._queue_state

    def leave(self, stop: bool = False) -> int:
        """Stop watching; returns how many others still watch. The last one out stops the job:
        at once with stop=True (the Stop button), after the grace period otherwise."""
        with self.registry.lock:
            return self._leave_locked(stop)

    def _join_locked(self) -> None:
        self.watchers += 1
        self._orphaned_at = None

    def _leave_locked(self, stop: bool) -> int:
        self.watchers -= 1
        if self.watchers == 0 and not self.done.is_set():
            if stop:
                self.stop_requested = True
                self._close_locked()
                self.registry._keep_stopped_locked(self)
            else:
                self._orphaned_at = self.registry.clock()
        return self.watchers

    def _close_locked(self) -> None:
        self.closed = True
        if self.registry._jobs.get(self.key) is self:
            del self.registry._jobs[self.key]

    def should_stop(self) -> bool:
        """True once nobody wants the result any longer (sticky). The training and the gate
        ask it; a job left without Stop is given up here, after the grace period."""
        with self.registry.lock:
            if not self.stop_requested and self.watchers == 0 and self._orphaned_at is not None \
                    and self.registry.clock() - self._orphaned_at >= self.registry.grace_s:
                self.stop_requested = True
                self._close_locked()
            return self.stop_requested

    # -- the job's thread -------------------------------------------------------------------

    def start(self) -> None:
        threading.Thread(target=self._run, name=f"relu-lab-job-{self.key[1][:8]}", daemon=True).start()

    def _run(self) -> None:
        events: list[str] = []  # this job's store warnings, for its watchers only
        try:
            turn = claim_or_wait(self.store, self.key[1], on_wait=self._other_trains, should_stop=self.should_stop,
                                 events=events)
            if turn.doc is not None:  # stored meanwhile, by another process
                self.result, self.from_store = freeze(Experiment.from_dict(turn.doc)), True
            elif turn.claim is None:
                raise Cancelled("The request was abandoned while another process trained this experiment.")
            else:
                with turn.claim.keep_alive():
                    exp = self.train()
                    if exp.status in STORABLE:
                        self._store(exp, events)
                    elif self.deadline is not None and self.deadline.timed_out:
                        self._store_partial(exp)
        except BaseException as e:  # handed to the watchers, who raise it in their own threads
            self.error = e
        finally:
            self.store_warnings = events + self.store_warnings
            self.done.set()
            self.registry._finished(self)

    def _other_trains(self, owner: str) -> None:
        # Another process trains this experiment: to the watchers, the job is next in line.
        with self._lock:
            self._queue_state = (1, 1)

    def train(self) -> Experiment:
        """Wait for a slot, train through the runner under the deadline; the finished result."""
        with self.gate.slot(on_wait=self._queued, cancelled=self.should_stop, visitor=self.visitor,
                            estimate=self.estimate, abandoned=lambda: self.watchers == 0) as slot:
            with self._lock:
                self._queue_state = None
            self.waited, taken = slot.waited, time.time()
            self.deadline = Deadline(self.limits.max_seconds, also=self.should_stop, clock=self.registry.clock)
            try:
                exp = self.runner(self.base, self.variants, self._on_epoch, self.deadline, self.limits.torch_threads)
            finally:
                self.slot_span = (taken, time.time())  # given back just after: the next span starts later
        exp.title, exp.preset = self.title, self.preset
        freeze(exp)  # nobody writes it any more: shared from here on
        self.trained = True
        self._publish(exp, *self._last)
        self.result = exp
        return exp

    def _queued(self, position: int, waiting: int, wait_s: float | None = None) -> None:
        with self._lock:
            self._queue_state = (position, waiting, wait_s)

    def _on_epoch(self, exp: Experiment, variant: int, epoch: int) -> None:
        # Here, in the job's thread between two epochs, `exp` is consistent: copy it now or not at all.
        self._last = (variant, epoch)
        t0 = time.perf_counter()
        if epoch > 0 and t0 - self._published_at < self._publish_every:
            return  # epoch 0 always: the variant before it is complete (status, pictures)
        snap = frozen_copy(exp)
        took = time.perf_counter() - t0
        self._publish_every = max(self.registry.publish_min_s, took / self.registry.publish_share)
        self._published_at = time.perf_counter()
        self._publish(snap, variant, epoch)

    def _publish(self, exp: Experiment, variant: int, epoch: int) -> None:
        with self._lock:
            version = self._progress.version + 1 if self._progress is not None else 1
            self._progress = Progress(exp, variant, epoch, version)

    def _store(self, exp: Experiment, events: list[str]) -> None:
        try:
            self.store.put(self.key[1], exp.to_dict(), {**summarize(exp), **self.summary}, events)
        except (sqlite3.Error, OSError) as e:  # disk full, read-only: the result is still served
            msg = f"run {self.key[1]}: could not be stored ({e}); it will be computed again"
            log.warning(msg)
            self.store_warnings.append(msg)


    def _store_partial(self, exp: Experiment) -> None:
        from core.serve.partial import store_partial

        problem = store_partial(self.store, self.key[1], exp, self.limits.max_seconds, self.summary)
        if problem:
            self.store_warnings.append(problem)


class JobRegistry:
    """The jobs of one process, by key. `clock` measures the orphan grace period and the time
    limit (tests pass a fake one). Snapshots: at most every `publish_min_s`, and copying takes
    at most `publish_share` of the training thread (tests: 0 and inf, a snapshot every epoch)."""

    def __init__(self, *, clock: Clock = time.monotonic, grace_s: float = ORPHAN_GRACE_S,
                 publish_min_s: float = PUBLISH_MIN_S, publish_share: float = PUBLISH_SHARE):
        self.clock, self.grace_s = clock, grace_s
        self.publish_min_s, self.publish_share = publish_min_s, publish_share
        self.lock = threading.Lock()
        self._jobs: dict[JobKey, Job] = {}
        self._live: set[Job] = set()
        # Jobs a Stop ended, newest last, until their page's rerun collects them (stopped_job):
        # the interrupted request could not wait for the run's end and its pictures.
        self._stopped: OrderedDict[JobKey, Job] = OrderedDict()
        self._idle = threading.Condition(self.lock)

    def join(self, key: JobKey, make: Callable[[JobKey], Job]) -> tuple[Job, bool]:
        """Watch the job of `key`: (job, True) if one was running, else (make(key), False), started."""
        with self.lock:
            job = self._jobs.get(key)
            if job is not None and not job.closed and not job.done.is_set():
                job._join_locked()
                return job, True
            job = make(key)
            job._join_locked()
            self._jobs[key] = job
            self._live.add(job)
        job.start()
        return job, False

    def stop_unwatched(self, key: JobKey) -> bool:
        """Stop the job of `key` at once if nobody watches it: its last watcher was interrupted
        (a rerun) before it could say it pressed Stop, so the rerun rejoins and leaves with
        stop=True in its place. Returns whether a job was stopped; a watched job goes on."""
        with self.lock:
            job = self._jobs.get(key)
            if job is None or job.closed or job.done.is_set() or job.watchers > 0:
                return False
            job._join_locked()
            job._leave_locked(stop=True)
            return True

    def stopped_job(self, key: JobKey) -> Job | None:
        """The job of `key` a Stop ended (its last watcher's, or stop_unwatched), once: its `done`
        is set when it has ended and drawn its pictures. None if there is none (any more: only the
        STOPPED_KEPT newest are kept, so a page that never comes back holds no memory for long)."""
        with self.lock:
            return self._stopped.pop(key, None)

    def _keep_stopped_locked(self, job: Job) -> None:
        self._stopped[job.key] = job
        self._stopped.move_to_end(job.key)
        while len(self._stopped) > STOPPED_KEPT:
            self._stopped.popitem(last=False)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until every job has finished (threads ended, slots released): for tests and shutdown."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._live, timeout)

    def _finished(self, job: Job) -> None:
        with self.lock:
            job._close_locked()
            self._live.discard(job)
            self._idle.notify_all()


JOBS = JobRegistry()  # the process's registry: every session of a server shares it
