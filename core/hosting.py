"""Guard rails for the hosted demo: budgets, a time limit, a fair queue, shared identical runs.

The page makes one call, `run_guarded(base, variants, limits=..., store=...)`, and gets back
(experiment, from_store, notes), where notes are sentences to show as they are. Around that:

* `Limits.from_env()`: what a run may cost. Hosted (RELU_LAB_HOSTED=1): a work budget, a
  memory estimate cap, a wall-clock limit, one torch thread per run. Locally: no budget, no
  time limit, but still at most two trainings at once.
* `check_budget(configs, limits)`: refuses a run before any training, with one sentence
  that says how big it is, what is allowed and which settings to reduce (`BudgetError`).
* `deadline_stop(seconds, also)`: a should_stop that fires at the time limit or when `also()`
  does (the Stop button), and remembers which of the two it was (`.timed_out`).
* `TrainingGate`: at most `max_concurrent` trainings at once, the rest wait in a strict
  first-come-first-served queue of at most `max_queue`, each told its place in line.

How a request is served (`run_guarded`): an experiment in the run store is returned at once
(no slot, no training). Otherwise the request joins the *job* for that store key, creating
it if there is none. A job trains once, in its own worker thread, behind the gate and under
the time limit, and stores the result if it completed (ok or diverged; a stopped run is
returned but never stored). Every request watching a job polls it from its own thread and
calls its own on_wait / on_epoch there: Streamlit needs each session's page updates to come
from that session's script thread, and a session that reruns, stops or disappears must
not take the training away from the others watching the same run. A job nobody watches any
longer stops: at once after a Stop press or cancelled(); ORPHAN_GRACE_S after a callback
raised (Streamlit's rerun), so that the rerun, asking again, picks the run up where it is.

No streamlit here: pure python, plus torch through core.train.
"""
from __future__ import annotations

import copy
import math
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from core.config import DEFAULTS, FIELD, Config, ConfigError
from core.cost import estimate_memory_mb, work  # noqa: F401 - part of this module's interface
from core.cost import examples as _examples
from core.cost import memory_bytes as _memory_bytes
from core.csvdata import csv_info  # noqa: F401
from core.store import store_key  # noqa: F401

# --- limits --------------------------------------------------------------------------------

ENV_HOSTED = "RELU_LAB_HOSTED"
ENV_MAX_WORK = "RELU_LAB_MAX_WORK"
ENV_MAX_SECONDS = "RELU_LAB_MAX_SECONDS"
ENV_MAX_CONCURRENT = "RELU_LAB_MAX_CONCURRENT"
ENV_MAX_QUEUE = "RELU_LAB_MAX_QUEUE"
ENV_MAX_MEMORY_MB = "RELU_LAB_MAX_MEMORY_MB"
ENV_TORCH_THREADS = "RELU_LAB_TORCH_THREADS"

# The heaviest preset (memorize-random-labels) is 2.1e8 units; 5e8 leaves room to double a
# preset's epochs and rejects the runs that would hold a slot for minutes.
HOSTED_MAX_WORK = 500_000_000
HOSTED_MAX_SECONDS = 60.0
# Per run. Two runs at once plus the server itself (~0.5 GB with torch and scikit-learn
# loaded) stay under 2 GB. The presets need 35 to 70 MB by the same estimate.
HOSTED_MAX_MEMORY_MB = 512
DEFAULT_MAX_CONCURRENT = 2  # the hosts have two cores; locally too, so the page stays responsive
DEFAULT_MAX_QUEUE = 50

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
_UNLIMITED = {"none", "off", "unlimited", "0"}


@dataclass(frozen=True)
class Limits:
    """What one run may cost. None means no limit. The defaults are the local (not hosted) ones."""

    hosted: bool = False
    max_work: int | None = None          # epochs x n_samples x width x depth x seeds, summed over variants
    max_seconds: float | None = None     # wall clock per run, from the moment it gets a slot
    max_concurrent: int = DEFAULT_MAX_CONCURRENT
    max_queue: int = DEFAULT_MAX_QUEUE
    torch_threads: int | None = None     # None: leave core.train's own choice alone
    max_memory_mb: int | None = None     # estimated peak memory of one run (see estimate_memory_mb)

    @classmethod
    def hosted_defaults(cls) -> Limits:
        return cls(hosted=True, max_work=HOSTED_MAX_WORK, max_seconds=HOSTED_MAX_SECONDS,
                   torch_threads=1, max_memory_mb=HOSTED_MAX_MEMORY_MB)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Limits:
        """Hosted mode when RELU_LAB_HOSTED is 1/true/yes/on; every limit can be overridden.

        A malformed value is a ConfigError naming the variable: a server that was meant to be
        limited must not start unlimited because of a typo.
        RELU_LAB_MAX_WORK / _MAX_SECONDS / _MAX_MEMORY_MB accept 'none' (or 0) for no limit.
        """
        env = os.environ if environ is None else environ
        raw = env.get(ENV_HOSTED, "").strip().lower()
        if raw not in _TRUE | _FALSE:
            raise ConfigError(ENV_HOSTED, env.get(ENV_HOSTED), "1, true, yes or on (hosted); 0, false, no, off "
                                                               "or unset (local)")
        lim = cls.hosted_defaults() if raw in _TRUE else cls()
        over: dict[str, Any] = {}
        for var, name, parse in ((ENV_MAX_WORK, "max_work", _env_budget_int),
                                 (ENV_MAX_SECONDS, "max_seconds", _env_budget_float),
                                 (ENV_MAX_MEMORY_MB, "max_memory_mb", _env_budget_int),
                                 (ENV_MAX_CONCURRENT, "max_concurrent", _env_count(1)),
                                 (ENV_MAX_QUEUE, "max_queue", _env_count(0)),
                                 (ENV_TORCH_THREADS, "torch_threads", _env_count(1))):
            value = env.get(var)
            if value is not None and value.strip() != "":
                over[name] = parse(var, value)
        return replace(lim, **over)

    def describe(self) -> str:
        """One sentence for the page's 'about this demo' line."""
        if not self.hosted and self.max_work is None and self.max_seconds is None:
            return f"Local mode: no limits on run size; {self.max_concurrent} trainings at a time."
        parts = []
        if self.max_work is not None:
            parts.append(f"up to {_sci(self.max_work)} units of work")
        if self.max_memory_mb is not None:
            parts.append(f"about {self.max_memory_mb} MB of memory")
        if self.max_seconds is not None:
            parts.append(f"{self.max_seconds:g} s")
        size = ", ".join(parts) if parts else "no size limit"
        return (f"{'Hosted demo' if self.hosted else 'Limited mode'}: each run may use {size}; "
                f"{self.max_concurrent} runs train at a time and up to {self.max_queue} wait in line.")


def _env_number(var: str, value: str, allowed: str) -> float:
    try:
        x = float(value.strip().replace("_", ""))
    except ValueError:
        raise ConfigError(var, value, allowed) from None
    if not math.isfinite(x) or x < 0:
        raise ConfigError(var, value, allowed)
    return x


def _env_budget_int(var: str, value: str) -> int | None:
    allowed = "a positive whole number such as 500000000 or 5e8, or 'none' for no limit"
    if value.strip().lower() in _UNLIMITED:
        return None
    x = _env_number(var, value, allowed)
    if not x.is_integer():
        raise ConfigError(var, value, allowed)
    return int(x)


def _env_budget_float(var: str, value: str) -> float | None:
    if value.strip().lower() in _UNLIMITED:
        return None
    return _env_number(var, value, "a positive number of seconds such as 60, or 'none' for no limit")


def _env_count(lo: int) -> Callable[[str, str], int]:
    def parse(var: str, value: str) -> int:
        allowed = f"a whole number >= {lo}"
        x = _env_number(var, value, allowed)
        if not x.is_integer() or x < lo:
            raise ConfigError(var, value, allowed)
        return int(x)
    return parse


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _sci(x: float) -> str:
    """3200000000 -> '3.2e9'; small numbers as they are."""
    if x < 10_000:
        return f"{x:g}"
    m, e = f"{x:.1e}".split("e")
    return f"{m}e{int(e)}"


# --- budgets -------------------------------------------------------------------------------

class BudgetError(ValueError):
    """A run too big for these limits; the message is one sentence for the person who asked."""



# How a setting compares with its usual value decides which ones a message suggests reducing.
_WORK_FACTORS = ("epochs", "n_samples", "width", "depth", "seeds")
_MEMORY_FACTORS = ("width", "seeds", "depth", "batch", "epochs")  # weights grow with width squared


def _ratio(cfg: Config, name: str, square_width: bool = False) -> float:
    if name == "batch":
        n = _examples(cfg)
        n_train = n - max(1, round(n * cfg.val_fraction))
        return min(cfg.batch_size or n_train, n_train) / DEFAULTS.batch_size
    value = _examples(cfg) if name == "n_samples" else getattr(cfg, name)
    ratio = value / (_examples(DEFAULTS) if name == "n_samples" else getattr(DEFAULTS, name))  # n_samples 0 = all
    return ratio * ratio if square_width and name == "width" and ratio > 1 else ratio


def _factor_text(cfg: Config, name: str) -> str:
    if name == "batch":
        if cfg.batch_size == 0:
            return f"batch_size (0 = all {_examples(cfg)} examples at once)"
        return f"batch_size ({cfg.batch_size})"
    if name == "n_samples" and cfg.dataset == "csv":
        return f"the rows of the CSV file ({_examples(cfg)})"
    return f"{name} ({_examples(cfg) if name == 'n_samples' else getattr(cfg, name)})"


def _reduce_list(cfg: Config, names: tuple[str, ...], n_variants: int, fit: str = "",
                 square_width: bool = False) -> str:
    def ratio(n: str) -> float:
        return _ratio(cfg, n, square_width)

    ranked = sorted((n for n in names if ratio(n) > 1), key=lambda n: -ratio(n))[:3]
    if not ranked:  # everything is at its usual size or below: name the largest anyway
        ranked = sorted(names, key=lambda n: -ratio(n))[:2]
    items = [_factor_text(cfg, n) for n in ranked]
    if fit:
        items[0] = items[0][:-1] + f"; at most {fit} fits)"
    if n_variants > 1 and len(items) < 3:
        items.append(f"the number of variants ({n_variants})")
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def check_budget(configs: list[Config], limits: Limits) -> None:
    """Raise BudgetError (one sentence) if the experiment exceeds the work or memory limit."""
    if not configs:
        return
    biggest = max(configs, key=lambda c: work([c]))
    over = f", over {len(configs)} variants" if len(configs) > 1 else ""
    if limits.max_work is not None:
        total = work(configs)
        if total > limits.max_work:
            fit = ""
            ranked = sorted(_WORK_FACTORS, key=lambda n: -_ratio(biggest, n))
            top = ranked[0]
            if top != "n_samples" or biggest.dataset != "csv":
                value = _examples(biggest) if top == "n_samples" else getattr(biggest, top)
                best = math.floor(value * limits.max_work / total)
                if best >= max(1, FIELD[top].nonzero_lo or FIELD[top].lo or 0, value // 10):  # else one factor alone is no answer
                    fit = str(best)
            where = "the hosted demo allows" if limits.hosted else "the limit is"
            raise BudgetError(
                f"This run is {_sci(total)} units of work (epochs × samples × width × depth × seeds{over}); "
                f"{where} {_sci(limits.max_work)}. "
                f"Reduce {_reduce_list(biggest, _WORK_FACTORS, len(configs), fit)}.")
    if limits.max_memory_mb is not None:
        mb = estimate_memory_mb(configs)
        if mb > limits.max_memory_mb:
            heavy = max(configs, key=lambda c: sum(_memory_bytes(c)))
            where = "the hosted demo allows" if limits.hosted else "the limit is"
            size = f"{mb / 1024:.1f} GB" if mb >= 1024 else f"{mb:.0f} MB"
            raise BudgetError(
                f"This run needs about {size} of memory (for its networks, their activations and the "
                f"per-epoch history it records{over}); {where} {limits.max_memory_mb} MB per run. "
                f"Reduce {_reduce_list(heavy, _MEMORY_FACTORS, len(configs), square_width=True)}.")


# --- time limit ------------------------------------------------------------------------------

class Deadline:
    """A should_stop for core.train: true once `seconds` have passed (None: never) or once
    `also()` is true. Sticky. `timed_out` / `requested` say which fired first."""

    def __init__(self, seconds: float | None, also: Callable[[], bool] | None = None):
        self.seconds = seconds
        self.also = also
        self.started = time.monotonic()
        self.timed_out = False
        self.requested = False

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

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


def deadline_stop(seconds: float | None, also: Callable[[], bool] | None = None) -> Deadline:
    """A should_stop that becomes true after `seconds` of wall clock, or when also() is true."""
    return Deadline(seconds, also)


# --- the gate --------------------------------------------------------------------------------

class HostingError(Exception):
    """Base of the errors a page shows as they are (their messages are sentences)."""


class QueueFull(HostingError):
    pass


class Cancelled(HostingError):
    """The caller went away (its cancelled() said so) before it was served."""


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
                    f"The demo is busy: {_count(self._running, 'run is', 'runs are')} training and "
                    f"{_count(len(self._queue), 'is', 'are')} waiting, as many as it queues; please try "
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


GATE: TrainingGate | None = None
_GATE_LOCK = threading.Lock()


def get_gate() -> TrainingGate:
    """The gate all sessions of this server share, built on first use from Limits.from_env()."""
    global GATE
    with _GATE_LOCK:
        if GATE is None:
            lim = Limits.from_env()
            GATE = TrainingGate(lim.max_concurrent, lim.max_queue)
        return GATE


# --- threads ---------------------------------------------------------------------------------

def apply_thread_settings(limits: Limits) -> int | None:
    """Hosted: every run uses at most `torch_threads` threads (1: two runs on two cores).

    core.train picks the threads itself for each run (choose_threads: 1 for small steps, all
    cores for big ones) and calls torch.set_num_threads, which is process-wide; so the cap is
    set where choose_threads reads it, not only in torch. Returns the cap, or None (no cap)."""
    n = limits.torch_threads
    if n is None:
        return None
    import torch

    import core.train as _train  # not `from core import train`: core.__getattr__ recurses before the first import

    if hasattr(_train, "MAX_THREADS"):  # the public hook, once core.train has it
        _train.MAX_THREADS = n
    else:  # until then: choose_threads' upper bound
        _train._DEFAULT_THREADS = min(_train._DEFAULT_THREADS, n)
    if torch.get_num_threads() > n:
        torch.set_num_threads(n)
    return n


# --- run_guarded -----------------------------------------------------------------------------

POLL_S = 0.1            # how often a waiting request looks at its job
WAIT_NOTE_S = 1.0       # queue waits shorter than this are not worth a note
ORPHAN_GRACE_S = 2.0    # a job whose watchers all vanished keeps going this long (a rerun rejoins)
STOP_WAIT_S = 30.0      # after a Stop press, wait at most this long for the run to wind down
STORABLE = ("ok", "diverged")  # a diverged run is a result; a stopped one is not


def _final_val_acc(run) -> float | None:
    import numpy as np

    if run.epochs_done == 0:  # a variant that never started (RunResult.final cannot reshape it)
        return None
    v = run.final("val_acc")
    v = v[~np.isnan(v)]
    return round(float(v.mean()), 4) if len(v) else None


def summarize(exp, title: str = "", preset: str = "") -> dict[str, Any]:
    return {"title": title, "preset": preset, "status": exp.status, "seconds": round(exp.seconds, 3),
            "variants": [r.name for r in exp.runs], "val_acc": {r.name: _final_val_acc(r) for r in exp.runs}}


class _Job:
    """One training of one store key, shared by every request for it."""

    def __init__(self, slot_key, key, base, variants, title, preset, limits, store, gate):
        self.slot_key, self.key = slot_key, key
        self.base, self.variants, self.title, self.preset = base, variants, title, preset
        self.limits, self.store, self.gate = limits, store, gate
        # guarded by _JOBS_LOCK
        self.subscribers = 0
        self.closed = False            # takes no new subscribers
        self.stop_requested = False
        self.orphaned_at: float | None = None
        # written by the worker thread only, read by the watchers
        self.queue_state: tuple[int, int] | None = None
        self.exp = None
        self.progress = (0, 0)
        self.version = 0
        self.waited = 0.0
        self.deadline: Deadline | None = None
        self.trained = False
        self.from_store = False
        self.error: BaseException | None = None
        self.warnings: list[str] = []
        self.done = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self._run, name=f"relu-lab-run-{self.key[:8]}", daemon=True).start()

    def _close_locked(self) -> None:
        self.closed = True
        if _JOBS.get(self.slot_key) is self:
            del _JOBS[self.slot_key]

    def abandoned(self) -> bool:
        with _JOBS_LOCK:
            if not self.stop_requested and self.subscribers == 0 and self.orphaned_at is not None \
                    and time.monotonic() - self.orphaned_at >= ORPHAN_GRACE_S:
                self.stop_requested = True
                self._close_locked()
            return self.stop_requested

    def _queued(self, position: int, waiting: int) -> None:
        self.queue_state = (position, waiting)

    def _on_epoch(self, exp, vi: int, epoch: int) -> None:
        self.exp, self.progress = exp, (vi, epoch)
        self.version += 1

    def _compute(self) -> tuple[dict, dict]:
        import core.train as _train  # not `from core import train`: core.__getattr__ recurses before the first import

        with self.gate.slot(on_wait=self._queued, cancelled=self.abandoned) as slot:
            self.queue_state = None
            self.waited = slot.waited
            apply_thread_settings(self.limits)
            self.deadline = deadline_stop(self.limits.max_seconds, also=self.abandoned)
            exp = _train.run_experiment(self.base, self.variants, on_epoch=self._on_epoch,
                                        should_stop=self.deadline, title=self.title, preset=self.preset,
                                        max_threads=self.limits.torch_threads)
        self.exp, self.trained = exp, True
        self.version += 1
        summary = summarize(exp, self.title, self.preset)
        if exp.status not in STORABLE:
            return {}, {**summary, "store": False}
        return exp.to_dict(), summary

    def _run(self) -> None:
        from core.results import Experiment

        n_warn = len(self.store.warnings)
        try:
            doc, from_store = self.store.get_or_compute(self.key, self._compute,
                                                        wait_timeout=_wait_timeout(self.limits))
            if from_store:  # stored meanwhile, by another process or an earlier job
                self.exp, self.from_store = Experiment.from_dict(doc), True
        except BaseException as e:  # handed to the watchers, who raise it in their own threads
            self.error = e
        finally:
            self.warnings = list(self.store.warnings[n_warn:])
            with _JOBS_LOCK:
                self._close_locked()
            self.done.set()


_JOBS: dict[tuple[str, str], _Job] = {}
_JOBS_LOCK = threading.Lock()


def _wait_timeout(limits: Limits) -> float:
    if limits.max_seconds is None:
        return 7 * 24 * 3600.0
    return limits.max_seconds * (limits.max_queue / limits.max_concurrent + 3) + 600


def _join(slot_key, make) -> tuple[_Job, bool]:
    with _JOBS_LOCK:
        job = _JOBS.get(slot_key)
        if job is not None and not job.closed:
            job.subscribers += 1
            job.orphaned_at = None
            return job, True
        job = make()
        job.subscribers = 1
        _JOBS[slot_key] = job
    job.start()
    return job, False


def _leave(job: _Job, stopping: bool) -> int:
    """Unsubscribe; returns how many others still watch. The last one out stops the run:
    at once if it pressed Stop, after ORPHAN_GRACE_S if it just went away."""
    with _JOBS_LOCK:
        job.subscribers -= 1
        if job.subscribers == 0 and not job.done.is_set():
            if stopping:
                job.stop_requested = True
                job._close_locked()
            else:
                job.orphaned_at = time.monotonic()
        return job.subscribers


def _empty_experiment(base: Config, variants: dict, title: str, preset: str):
    from core.results import Experiment, RunResult

    runs = []
    for name, ov in variants.items():
        c = base.replace(**ov)
        r = RunResult.empty(c, name, c.depth)
        r.status = "stopped"
        runs.append(r)
    return Experiment(base, runs, title, preset)


def _snapshot(exp):
    """A private copy of a run that another thread is still training, marked stopped."""
    snap = copy.deepcopy(exp)
    for r in snap.runs:
        if r.status in ("running", "pending"):
            r.status = "stopped"
    return snap


def _relabel(exp, names: list[str], title: str, preset: str, shared: bool):
    """Same settings, asked for under other names (or another title): show the caller's names."""
    if [r.name for r in exp.runs] == names and exp.title == title and exp.preset == preset:
        return exp
    if shared:
        exp = copy.deepcopy(exp)
    for r, name in zip(exp.runs, names, strict=True):
        r.name = name
    exp.title, exp.preset = title, preset
    return exp


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def waiting_message(position: int, waiting: int) -> str:
    """What the page shows from on_wait: 'Waiting for a training slot: you are 3rd in line.'"""
    if position <= 1:
        return "Waiting for a training slot: you are next."
    return f"Waiting for a training slot: you are {_ordinal(position)} in line ({waiting} waiting)."


def _outcome_notes(exp, limits: Limits, deadline: Deadline | None, user_stopped: bool) -> list[str]:
    notes = []
    if exp.status == "stopped":
        done = [r for r in exp.runs if r.epochs_done > 0]
        where = ""
        if done:
            last = done[-1]
            where = f" after epoch {max(0, last.epochs_done - 1)} of {last.config.epochs}"
            if len(exp.runs) > 1:
                where += f" of '{last.name}'"
                skipped = len(exp.runs) - exp.runs.index(last) - 1
                if skipped:
                    where += f" ({_count(skipped, 'later variant', 'later variants')} did not start)"
        if deadline is not None and deadline.timed_out:
            notes.append(f"Stopped at the {limits.max_seconds:g} s limit of the "
                         f"{'hosted demo' if limits.hosted else 'server'}{where}; a partial run is not kept in "
                         "the store, so reduce epochs or n_samples to finish within the limit.")
        elif user_stopped:
            notes.append(f"Stopped at your request{where}; stopped runs are not kept in the store.")
        else:
            notes.append(f"Stopped{where}; stopped runs are not kept in the store.")
    for r in exp.runs:
        bad = sum(e is not None for e in r.diverged_at)
        if bad:
            who = f"'{r.name}': " if len(exp.runs) > 1 else ""
            notes.append(f"{who}{bad} of {len(r.diverged_at)} seeds diverged (loss or weights became NaN/inf) "
                         f"and their curves stop there; try a learning rate below {r.config.lr:g}.")
    return notes


def run_guarded(base: Config, variants: dict[str, dict[str, Any]] | None = None, *, limits: Limits,
                store, on_epoch: Callable[[Any, int, int], Any] | None = None,
                user_stop: Callable[[], bool] | None = None,
                on_wait: Callable[[int, int], Any] | None = None,
                cancelled: Callable[[], bool] | None = None,
                title: str = "", preset: str = "",
                gate: TrainingGate | None = None) -> tuple[Any, bool, list[str]]:
    """Run an experiment the way the hosted page must: -> (experiment, from_store, notes).

    Raises ConfigError (a variant's settings), DataError (a CSV), BudgetError (too big and not
    in the store) before any training; QueueFull when the line is full; Cancelled when cancelled() turns true.
    Callbacks are called from the caller's own thread: on_wait(position, waiting) while the run
    waits for a slot, on_epoch(experiment, variant_index, epoch) as it trains (throttled to
    every POLL_S; the experiment is live, written by the training thread). user_stop() true:
    the caller gets the run as far as it got, and the training stops unless someone else is
    watching the same run.
    """
    from core.results import Experiment

    variants = dict(variants or {"run": {}})
    configs = [base.replace(**ov) for ov in variants.values()]  # ConfigError before anything
    names = list(variants)
    key = store_key(configs)  # DataError for an unusable CSV
    notes: list[str] = []

    # The store first: serving a stored run costs nothing, whatever its size (so heavy
    # experiments can be trained offline, without limits, into the store a demo serves).
    doc = store.get(key)
    if doc is not None:
        try:
            exp = Experiment.from_dict(doc)
        except Exception:  # a document from an older engine or a damaged one: train it again
            store.delete(key)
            notes.append("The stored copy of this experiment could not be read, so it was trained again.")
        else:
            return (_relabel(exp, names, title, preset, shared=False), True,
                    ["Served from the store: this exact experiment was trained before."])
    check_budget(configs, limits)

    gate = gate if gate is not None else get_gate()
    slot_key = (str(Path(store.path).resolve()), key)
    job, joined = _join(slot_key, lambda: _Job(slot_key, key, base, variants, title, preset, limits, store, gate))
    user_stopped = left = False
    seen, last_wait, last_state = 0, 0.0, None
    try:
        while not job.done.wait(POLL_S):
            if cancelled is not None and cancelled():
                # The session is gone for good (a rerun raises instead): if nobody else watches,
                # the run leaves the queue, or stops, now rather than after the grace period.
                left = True
                _leave(job, stopping=True)
                raise Cancelled("The request was abandoned before its run finished.")
            if user_stop is not None and user_stop():
                user_stopped = True
                break
            state = job.queue_state
            if state is not None:
                now = time.monotonic()
                if on_wait is not None and (state != last_state or now - last_wait >= 0.25):
                    last_wait, last_state = now, state
                    on_wait(*state)
            elif on_epoch is not None and job.exp is not None and job.version != seen:
                seen = job.version
                on_epoch(job.exp, *job.progress)
        if user_stopped:
            left = True
            others = _leave(job, stopping=True)
            if others > 0 or not job.done.wait(STOP_WAIT_S):
                exp = _snapshot(job.exp) if job.exp is not None else \
                    _empty_experiment(base, variants, title, preset)
                exp = _relabel(exp, names, title, preset, shared=False)
                notes += _outcome_notes(exp, limits, None, True)
                if others > 0:
                    notes.append(f"The run goes on for the {_count(others, 'other session', 'other sessions')} "
                                 "watching it and will be kept in the store: run it again later to see it whole.")
                return exp, False, notes
    finally:
        if not left:
            _leave(job, stopping=False)

    if job.error is not None:
        if user_stopped and isinstance(job.error, Cancelled):  # stopped while it was still in line
            return _empty_experiment(base, variants, title, preset), False, \
                notes + ["Stopped at your request before the run got a training slot."]
        raise job.error
    exp = job.exp
    if on_epoch is not None and job.trained and job.version != seen and not user_stopped:
        on_epoch(exp, *job.progress)
    if job.from_store:
        notes.append("Served from the store: this exact experiment was trained before.")
    elif joined:
        notes.append("This exact experiment was already being trained for another session; "
                     "it was trained once and you watched that run.")
    if job.trained and job.waited >= WAIT_NOTE_S:
        notes.append(f"Waited {job.waited:.0f} s for a free training slot "
                     f"({_count(gate.max_concurrent, 'run trains', 'runs train')} at a time).")
    notes += _outcome_notes(exp, limits, job.deadline, user_stopped)
    notes += [f"Store: {w}" for w in job.warnings]
    return _relabel(exp, names, title, preset, shared=True), job.from_store, notes


def stop_unwatched(base: Config, variants: dict[str, dict[str, Any]] | None, *, store) -> bool:
    """Stop the training of this experiment at once if nobody watches it any longer.

    For the page's rerun after a Stop press: the interrupted request left its job without
    saying it was a Stop (Streamlit's exception gave it no chance), so the job would train on
    for ORPHAN_GRACE_S. Returns whether a job was stopped. A job others still watch goes on."""
    variants = dict(variants or {"run": {}})
    try:
        key = store_key([base.replace(**ov) for ov in variants.values()])
    except (ValueError, OSError):
        return False
    slot_key = (str(Path(store.path).resolve()), key)
    with _JOBS_LOCK:
        job = _JOBS.get(slot_key)
        if job is None or job.closed or job.subscribers > 0 or job.done.is_set():
            return False
        job.stop_requested = True
        job._close_locked()
        return True
