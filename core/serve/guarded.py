"""run_guarded: an experiment served the way the hosted page must serve it.

    exp, from_store, notes = run_guarded(base, variants, limits=..., store=...)

1. The run store first: a stored experiment is served without training (core.serve.opened:
   from `cache` if it was opened before; a read priced above the memory limit is refused, a
   heavy one waits for a slot of the gate), so heavy experiments can be trained offline into
   the store a demo serves.
2. The budget (BudgetError before any training); then a run kept when it reached this time
   limit before (core.serve.partial), served as the partial run it is.
3. The job of this experiment (core.serve.jobs): joined if another request started it, else
   started. It waits for the gate, trains under the time limit and stores a complete result.
4. Meanwhile the caller watches from its own thread: every callback (on_wait, on_epoch) runs
   there, because Streamlit needs each session's page updates to come from that session's
   script thread, and a session that reruns, stops or disappears must not take the training
   away from others watching the same run.

Notes (core.serve.notes.Note) say how it was served: from the store, shared, after a wait,
stopped (why and where), diverged, store trouble.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from core.config import Config
from core.cost import estimate_seconds
from core.results import Experiment
from core.serve import notes as N
from core.serve.budget import check_budget
from core.serve.errors import Cancelled
from core.serve.gate import TrainingGate, get_gate
from core.serve.jobs import JOBS, Job, JobRegistry, Runner, job_key
from core.serve.limits import Limits
from core.serve.notes import Note
from core.serve.opened import RunCache, Unreadable, open_stored
from core.serve.partial import load_partial
from core.serve.snapshot import stopped_experiment, view
from core.serve.thin import thin
from core.store import store_key

POLL_S = 0.1            # how often a watcher looks at its job
WAIT_NOTE_S = 1.0       # queue waits shorter than this are not worth a note
STOP_WAIT_S = 30.0      # after a Stop press, wait at most this long for the run to wind down


def run_guarded(base: Config, variants: dict[str, dict[str, Any]] | None = None, *, limits: Limits,
                store, on_epoch: Callable[[Experiment, int, int], Any] | None = None,
                user_stop: Callable[[], bool] | None = None,
                on_wait: Callable[[int, int], Any] | None = None,
                cancelled: Callable[[], bool] | None = None,
                title: str = "", preset: str = "", gate: TrainingGate | None = None,
                jobs: JobRegistry | None = None, runner: Runner | None = None, visitor: str | None = None,
                cache: RunCache | None = None, summary: dict | None = None,
                key: str | None = None, confirmed: bool = False,
                stop_on: tuple[type[BaseException], ...] = ()) -> tuple[Experiment, bool, list[Note]]:
    """-> (experiment, from_store, notes). The experiment is the caller's own view (its variant
    names, title and preset), thinned to at most ~500 epochs per curve (core.serve.thin); its
    arrays may be shared with other callers and are not written.

    Raises ConfigError (a variant's settings), DataError (a CSV), BudgetError (too big and not
    in the store) before any training; QueueFull when the line is full; Cancelled when
    cancelled() turns true; VisitorBusy (a QueueFull) when `visitor` (the page: its browser;
    None: nobody in particular) already has its share of the line. Callbacks run in the
    caller's thread: on_wait(position, waiting, wait_s) while the run waits for a slot (wait_s:
    estimated seconds, or None); on_epoch(experiment, variant_index, epoch) as it trains, at
    most every POLL_S, with a private view of the latest snapshot (never the live object).
    user_stop() true: the caller gets the run as far as it got, and the training stops unless
    someone else is watching it. gate / jobs / runner default to the process's. summary: extra
    fields for the stored run's summary (core.serve.uploads.privacy_fields: who may list it).
    key: the store key to serve and keep it under (default: the experiment's, core.store.store_key;
    the Sweep page passes core.sweep.Sweep.key(), so the page and `python -m core sweep` share one copy).
    confirmed: the user said yes to a run over the local budget (else NeedsConfirmation, a
    BudgetError carrying the estimate, before anything trains; core.serve.budget).
    stop_on: exceptions raised in the callbacks that mean the caller stopped for good (a page's
    own stop signal): the run stops at once unless others watch it. Any other exception leaves
    it running for the grace period (a rerun may rejoin it).
    """
    variants, configs = _variant_configs(base, variants)  # ConfigError before anything
    names = list(variants)
    exp_key = store_key(configs)  # DataError for an unusable CSV
    key = key or exp_key
    notes: list[Note] = []

    gate = gate if gate is not None else get_gate()
    try:
        stored = open_stored(store, key, limits=limits, configs=configs, gate=gate, visitor=visitor, cache=cache,
                             on_wait=on_wait, cancelled=cancelled)
    except Unreadable:  # a document from an older engine or a damaged one: train it again
        store.delete(key)
        notes.append(N.stored_copy_unreadable())
    else:
        if stored is not None:
            return view(stored, names, title, preset), True, [N.from_store()]
    check_budget(configs, limits, confirmed=confirmed)
    kept = load_partial(store, key, limits)
    if kept is not None:  # it reached this limit before: serve that part, do not burn the CPU again
        exp, cut_at = kept
        return view(thin(exp), names, title, preset), True, [N.partial_from_store(cut_at, exp)]

    jobs = jobs if jobs is not None else JOBS
    # The line orders by estimated seconds; a run never holds its slot past the time limit.
    estimate = min(estimate_seconds(configs), limits.max_seconds or math.inf)
    job, joined = jobs.join(job_key(store, key), lambda k: Job(
        jobs, k, base, variants, title=title, preset=preset, limits=limits, store=store, gate=gate, runner=runner,
        visitor=visitor, estimate=estimate, summary=summary))

    def show(p) -> None:
        on_epoch(view(p.experiment, names, title, preset), p.variant, p.epoch)

    user_stopped = left = False
    seen, last_wait, last_state = 0, 0.0, None
    try:
        while not job.done.wait(POLL_S):
            if cancelled is not None and cancelled():
                # The session is gone for good (a rerun raises instead): if nobody else watches,
                # the run leaves the queue, or stops, now rather than after the grace period.
                left = True
                job.leave(stop=True)
                raise Cancelled("The request was abandoned before its run finished.")
            if user_stop is not None and user_stop():
                user_stopped = True
                break
            state = job.queue_state()
            if state is not None:
                now = time.monotonic()
                if on_wait is not None and (state != last_state or now - last_wait >= 0.25):
                    last_wait, last_state = now, state
                    on_wait(*state)
            elif on_epoch is not None:
                p = job.snapshot()
                if p is not None and p.version != seen:
                    seen = p.version
                    show(p)
        if user_stopped:
            left = True
            others = job.leave(stop=True)  # the one place a Stop press stops a run
            if others > 0 or not job.done.wait(STOP_WAIT_S):
                p = job.snapshot()
                exp = view(thin(p.experiment), names, title, preset, stopped=True) if p is not None else \
                    stopped_experiment(base, variants, title, preset)
                notes += N.outcome(exp, limits, timed_out=False, user_stopped=True)
                if others > 0:
                    notes.append(N.goes_on(others))
                return exp, False, notes
    except stop_on:
        # The caller's host stopped it for good (Streamlit's header Stop, a closed tab): the
        # same as the Stop button, not a rerun that may come back within the grace period.
        if not left:
            left = True
            job.leave(stop=True)
        raise
    finally:
        if not left:
            job.leave()

    if job.error is not None:
        if user_stopped and isinstance(job.error, Cancelled):  # stopped while it was still in line
            return stopped_experiment(base, variants, title, preset), False, notes + [N.stopped_in_line()]
        raise job.error
    p = job.snapshot()
    if on_epoch is not None and job.trained and not user_stopped and p is not None and p.version != seen:
        show(p)  # the finished run, pictures and all
    if job.from_store:
        notes.append(N.from_store())
    elif joined:
        notes.append(N.shared())
    if job.trained and job.waited >= WAIT_NOTE_S:
        notes.append(N.waited(job.waited, gate.max_concurrent))
    exp = view(thin(job.result), names, title, preset)
    notes += N.outcome(exp, limits, timed_out=job.deadline is not None and job.deadline.timed_out,
                       user_stopped=user_stopped)
    notes += [N.store_problem(w) for w in job.store_warnings]
    return exp, job.from_store, notes


def stop_unwatched(base: Config, variants: dict[str, dict[str, Any]] | None, *, store,
                   jobs: JobRegistry | None = None) -> bool:
    """Stop the training of this experiment at once if nobody watches it any longer.

    For the page's rerun after a Stop press: the interrupted request left its job without
    saying it was a Stop (Streamlit's exception gave it no chance), so the job would train on
    for the grace period. Returns whether a job was stopped. A job others still watch goes on."""
    key = _job_key(base, variants, store)
    return key is not None and (jobs if jobs is not None else JOBS).stop_unwatched(key)


def stop_and_collect(base: Config, variants: dict[str, dict[str, Any]] | None, *, store,
                     jobs: JobRegistry | None = None, wait_s: float = STOP_WAIT_S) -> Experiment | None:
    """For the page's rerun after a Stop press: stop the run if nobody watches it (stop_unwatched;
    Streamlit may have stopped it already through the interrupted request), then take it as it
    ended: every variant's epochs and its pictures of the last measured epoch, which the engine
    draws after a Stop (the interrupted request kept only the latest live snapshot, without
    them). A private, thinned copy, as run_guarded returns; None if no run of these settings was
    stopped, or it did not end within wait_s, or it failed."""
    key = _job_key(base, variants, store)
    if key is None:
        return None
    reg = jobs if jobs is not None else JOBS
    reg.stop_unwatched(key)
    job = reg.stopped_job(key)
    if job is None or not job.done.wait(wait_s) or job.error is not None or job.result is None:
        return None
    return view(thin(job.result), stopped=True)


def _variant_configs(base: Config, variants: dict[str, dict[str, Any]] | None
                     ) -> tuple[dict[str, dict[str, Any]], list[Config]]:
    """The variants of a request (one "run" when it names none) and the configs they train."""
    variants = dict(variants or {"run": {}})
    return variants, [base.replace(**ov) for ov in variants.values()]


def _job_key(base: Config, variants: dict[str, dict[str, Any]] | None, store):
    try:
        return job_key(store, store_key(_variant_configs(base, variants)[1]))
    except (ValueError, OSError):
        return None
