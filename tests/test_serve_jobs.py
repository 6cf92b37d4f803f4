"""Jobs: one shared training per experiment, snapshots copied in the training thread, watchers
joining and leaving, a job with no watcher stopping itself. The runner here is scripted: the
test lets it train one epoch at a time, so nothing depends on timing."""
from __future__ import annotations

import math
import threading

import numpy as np
import pytest

from core.config import validate
from core.serve import jobs as jobs_mod
from core.serve.gate import TrainingGate
from core.serve.jobs import Job, JobRegistry
from core.serve.limits import Limits
from core.serve.snapshot import stopped_experiment
from core.store import RunStore, summarize

TIMEOUT = 10.0  # only a guard against a hang: every wait below ends on an event
BASE = validate(n_samples=100, epochs=3, width=8, seeds=2, batch_size=32)
GRACE = jobs_mod.ORPHAN_GRACE_S
LOCAL = Limits()


class Scripted:
    """A runner the test drives: one epoch per step(), writing its live experiment in place as
    core.train does, calling on_epoch after each epoch and honouring should_stop."""

    def __init__(self, fail: BaseException | None = None, barrier: threading.Barrier | None = None):
        self.fail, self.barrier = fail, barrier
        self.permits = threading.Semaphore(0)
        self.cond = threading.Condition()
        self.done_epochs: list[tuple[int, int]] = []
        self.calls = 0
        self.live = None
        self.saw_stop = False

    def step(self, n: int = 1) -> None:
        for _ in range(n):
            self.permits.release()

    def wait_epochs(self, n: int) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.done_epochs) >= n, TIMEOUT), f"runner did not reach {n} epochs"

    def __call__(self, base, variants, on_epoch, should_stop, max_threads):
        self.calls += 1
        if self.barrier is not None:
            self.barrier.wait(TIMEOUT)  # breaks unless every runner that should run at once does
        exp = self.live = stopped_experiment(base, variants)
        for r in exp.runs:
            r.status = "pending"
        for vi, r in enumerate(exp.runs):
            r.status = "running"
            for epoch in range(r.config.epochs + 1):
                assert self.permits.acquire(timeout=TIMEOUT)
                if self.fail is not None:
                    raise self.fail
                if should_stop():
                    self.saw_stop = True
                    r.status = "stopped"
                    for later in exp.runs[vi + 1:]:
                        later.status = "stopped"
                    return exp
                r.metrics["val_acc"][:, epoch] = epoch / 10
                r.epochs_done = epoch + 1
                on_epoch(exp, vi, epoch)
                with self.cond:
                    self.done_epochs.append((vi, epoch))
                    self.cond.notify_all()
            r.status = "ok"
        return exp


@pytest.fixture
def registry(clock, gate):  # store and gate: tests/conftest.py
    reg = JobRegistry(clock=clock, publish_min_s=0.0, publish_share=math.inf)  # a snapshot after every epoch
    yield reg
    assert reg.wait_idle(TIMEOUT), "a job is still running"
    assert gate.stats() == (0, 0)


def _join(registry, store, gate, runner, key="k", variants=None, title="t"):
    variants = variants or {"ReLU": {}, "dropout": {"dropout": 0.5}}
    return registry.join((str(store.path), key), lambda k: Job(
        registry, k, BASE, variants, title=title, preset="", limits=LOCAL, store=store, gate=gate, runner=runner))


def _finish(job, runner) -> None:
    runner.step(100)
    assert job.done.wait(TIMEOUT)


def test_snapshots_are_frozen_copies_taken_in_the_training_thread(registry, store, gate, monkeypatch):
    copied_in = []
    real_copy = jobs_mod.frozen_copy

    def spy(exp):
        copied_in.append(threading.current_thread().name)
        return real_copy(exp)

    monkeypatch.setattr(jobs_mod, "frozen_copy", spy)
    runner = Scripted()
    job, joined = _join(registry, store, gate, runner)
    assert not joined and job.snapshot() is None  # nothing measured yet
    runner.step(2)
    runner.wait_epochs(2)
    first = job.snapshot()
    assert (first.variant, first.epoch, first.version) == (0, 1, 2)
    assert first.experiment is not runner.live and first.experiment.runs[0] is not runner.live.runs[0]
    with pytest.raises(ValueError, match="read-only"):
        first.experiment.runs[0].metrics["val_acc"][0, 0] = 1.0
    runner.step()
    runner.wait_epochs(3)
    assert first.experiment.runs[0].epochs_done == 2  # the copy stays as it was
    assert np.isnan(first.experiment.runs[0].metrics["val_acc"][:, 2]).all()
    assert job.snapshot().epoch == 2 and job.snapshot().version == 3
    assert set(copied_in) == {"relu-lab-job-k"}  # the job's own thread, never a watcher's
    job.leave()
    _finish(job, runner)


def test_the_finished_result_is_the_last_snapshot(registry, store, gate):
    runner = Scripted()
    job, _ = _join(registry, store, gate, runner)
    _finish(job, runner)
    p = job.snapshot()
    assert p.experiment is job.result and (p.variant, p.epoch) == (1, 3) and p.version == 9  # 8 epochs + the end
    assert job.result.status == "ok" and job.result.title == "t" and job.trained
    assert not job.result.runs[1].metrics["val_acc"].flags.writeable  # shared from now on: frozen
    job.leave()


def test_snapshots_are_throttled_but_each_variant_start_and_the_end_are_published(clock, store, gate):
    reg = JobRegistry(clock=clock, publish_min_s=1e9)  # only what must be published
    runner = Scripted()
    job, _ = _join(reg, store, gate, runner)
    seen = []
    for n in range(1, 8):  # not the last epoch: the end is published right after it
        runner.step()
        runner.wait_epochs(n)
        p = job.snapshot()
        seen.append((p.variant, p.epoch, p.version))
    assert seen == [(0, 0, 1)] * 4 + [(1, 0, 2)] * 3
    assert job.snapshot().experiment.runs[0].status == "ok"  # variant 0 complete when 1 starts
    _finish(job, runner)
    assert job.snapshot().version == 3 and job.snapshot().experiment is job.result
    job.leave()
    assert reg.wait_idle(TIMEOUT)


def test_identical_requests_share_one_job(registry, store, gate):
    runner = Scripted()
    a, joined_a = _join(registry, store, gate, runner)
    b, joined_b = _join(registry, store, gate, runner)
    assert a is b and (joined_a, joined_b) == (False, True) and a.watchers == 2
    c, joined_c = _join(registry, store, gate, runner, key="other")
    assert c is not a and not joined_c
    for job in (a, c):
        _finish(job, runner)
    assert runner.calls == 2
    assert a.leave() == 1 and a.leave() == 0 and c.leave() == 0


def test_stop_by_the_last_watcher_stops_at_once(registry, store, gate):
    runner = Scripted()
    job, _ = _join(registry, store, gate, runner)
    runner.step(2)
    runner.wait_epochs(2)
    assert job.leave(stop=True) == 0
    assert job.should_stop() and job.closed
    _finish(job, runner)
    assert runner.saw_stop and job.result.status == "stopped" and job.result.runs[0].epochs_done == 2
    assert store.list() == []  # a stopped run is not kept
    again, joined = _join(registry, store, gate, Scripted())  # a stopping job takes no new watchers
    assert again is not job and not joined
    again.leave(stop=True)  # stops before its first epoch
    assert again.should_stop()
    again.runner.step()
    assert again.done.wait(TIMEOUT)


def test_stop_with_others_watching_goes_on(registry, store, gate):
    runner = Scripted()
    job, _ = _join(registry, store, gate, runner)
    _join(registry, store, gate, runner)
    assert job.leave(stop=True) == 1
    assert not job.should_stop() and not job.closed
    _finish(job, runner)
    assert job.result.status == "ok" and len(store.list()) == 1
    job.leave()


def test_a_vanished_watcher_gets_a_grace_period(registry, store, gate, clock):
    runner = Scripted()
    job, _ = _join(registry, store, gate, runner)
    assert job.leave() == 0  # a rerun: the watcher's thread was interrupted, no Stop said
    clock.advance(GRACE - 0.01)
    assert not job.should_stop()
    clock.advance(0.01)
    assert job.should_stop() and job.closed
    _finish(job, runner)
    assert job.result.status == "stopped"


def test_a_rejoin_within_the_grace_period_keeps_the_job(registry, store, gate, clock):
    runner = Scripted()
    job, _ = _join(registry, store, gate, runner)
    job.leave()
    clock.advance(GRACE / 2)
    again, joined = _join(registry, store, gate, runner)
    assert again is job and joined
    clock.advance(GRACE * 10)
    assert not job.should_stop()
    _finish(job, runner)
    assert job.result.status == "ok"
    job.leave()


def test_stop_unwatched_stops_only_a_job_nobody_watches(registry, store, gate):
    runner = Scripted()
    job, _ = _join(registry, store, gate, runner)
    key = job.key
    assert not registry.stop_unwatched(key) and not job.should_stop()  # watched
    job.leave()
    assert registry.stop_unwatched(key) and job.should_stop()  # at once, no grace period
    assert not registry.stop_unwatched(key)  # already closed
    assert not registry.stop_unwatched((str(store.path), "unknown"))
    _finish(job, runner)


def test_a_failing_runner_reaches_every_watcher_and_frees_the_key(registry, store, gate):
    runner = Scripted(fail=RuntimeError("boom"))
    job, _ = _join(registry, store, gate, runner)
    _join(registry, store, gate, runner)
    _finish(job, runner)
    assert isinstance(job.error, RuntimeError) and str(job.error) == "boom" and job.result is None
    assert registry.wait_idle(TIMEOUT)
    fresh, joined = _join(registry, store, gate, Scripted())
    assert fresh is not job and not joined  # asked again: trained again, nobody hangs
    fresh.leave(stop=True)
    fresh.runner.step()
    job.leave()
    job.leave()


def test_jobs_of_different_experiments_train_side_by_side(registry, store, gate):
    together = threading.Barrier(2)  # both runners must be inside at once (the gate has 2 slots)
    runners = [Scripted(barrier=together), Scripted(barrier=together)]
    jobs = [_join(registry, store, gate, r, key=f"k{i}")[0] for i, r in enumerate(runners)]
    for job, r in zip(jobs, runners, strict=True):
        _finish(job, r)
        assert job.error is None and job.result.status == "ok"
        job.leave()


def test_slot_spans_of_one_visitors_jobs_never_overlap(registry, store):
    # What bench.fair checks on a live server ("no visitor held more than its share"), here with
    # scripted runners: the span a job logs lies inside the time it held its slot, so one
    # visitor's spans follow each other although the gate has a second slot free.
    gate = TrainingGate(2, 50, poll=0.01, max_per_visitor=1)
    runners = [Scripted(), Scripted()]
    jobs = [registry.join((str(store.path), f"v{i}"), lambda k, r=r: Job(
        registry, k, BASE, {"ReLU": {}}, title="t", preset="", limits=LOCAL, store=store, gate=gate, runner=r,
        visitor="v"))[0] for i, r in enumerate(runners)]
    for r in runners:
        r.step(100)
    for job in jobs:
        assert job.done.wait(TIMEOUT) and job.error is None
        job.leave()
    (a0, a1), (b0, b1) = sorted(job.slot_span for job in jobs)
    assert a0 <= a1 <= b0 <= b1


def test_a_complete_run_is_stored_with_its_summary(registry, store, gate):
    runner = Scripted()
    job, _ = _join(registry, store, gate, runner, title="two variants")
    _finish(job, runner)
    [row] = store.list()
    assert row["key"] == "k" and row["title"] == "two variants" and row["status"] == "ok"
    assert row["variants"] == ["ReLU", "dropout"] and row["val_acc"] == {"ReLU": 0.3, "dropout": 0.3}
    assert store.get("k") == job.result.to_dict()
    job.leave()


def test_a_store_that_cannot_be_written_is_a_warning_not_a_failure(registry, store, gate, monkeypatch):
    def full(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(store, "put", full)
    runner = Scripted()
    job, _ = _join(registry, store, gate, runner)
    _finish(job, runner)
    assert job.error is None and job.result.status == "ok"
    assert job.store_warnings == ["run k: could not be stored (disk full); it will be computed again"]
    job.leave()


def test_a_run_stored_meanwhile_is_served_not_trained(registry, store, gate):
    exp = stopped_experiment(BASE, {"run": {}}, "stored elsewhere")
    exp.runs[0].status = "ok"
    store.put("k", exp.to_dict(), summarize(exp))
    runner = Scripted()
    job, _ = _join(registry, store, gate, runner)
    assert job.done.wait(TIMEOUT)
    assert job.from_store and not job.trained and runner.calls == 0
    assert job.result.title == "stored elsewhere" and job.result.status == "ok"
    job.leave()


def test_summary_of_a_variant_that_never_started():
    exp = stopped_experiment(BASE, {"a": {}, "b": {}}, "t", "p")
    exp.runs[0].epochs_done = 2
    exp.runs[0].metrics["val_acc"][:, :2] = [[0.5, 0.7], [0.5, np.nan]]
    assert summarize(exp) == {"title": "t", "preset": "p", "status": "stopped", "seconds": 0.0,
                                        "variants": ["a", "b"], "val_acc": {"a": 0.6, "b": None}}


def test_a_stop_with_the_real_engine_keeps_every_variants_epochs_and_pictures(registry, store, gate):
    # core.train trains the variants of a comparison as one network: on the page all their curves
    # advance together, and a Stop leaves every variant at the same epoch with its pictures.
    from core.train import run_experiment

    base = BASE.replace(epochs=40)
    variants = {"ReLU": {}, "dropout": {"dropout": 0.5}, "linear": {"activation": "linear"}}
    holder = {}
    seen = []

    def runner(b, v, on_epoch, should_stop, max_threads):
        def spy(exp, vi, epoch):
            seen.append((vi, epoch))
            on_epoch(exp, vi, epoch)
            if epoch == 3 and not holder["job"].closed:
                holder["job"].leave(stop=True)  # the last watcher presses Stop, here: no timing involved
        return run_experiment(b, v, on_epoch=spy, should_stop=should_stop, max_threads=max_threads)

    job, _ = registry.join((str(store.path), "real"), lambda k: Job(
        registry, k, base, variants, title="t", preset="", limits=LOCAL, store=store, gate=gate, runner=runner))
    holder["job"] = job
    assert job.done.wait(60)
    exp = job.result
    assert [r.status for r in exp.runs] == ["stopped"] * 3
    done = {r.epochs_done for r in exp.runs}
    assert len(done) == 1 and 4 <= done.pop() < 41
    assert all("raster" in r.artifacts for r in exp.runs)
    assert {vi for vi, e in seen if e == 3} == {0, 1, 2}
    assert job.snapshot().experiment is exp and store.list() == []


# --- another process on the same store (core.store.claims) --------------------------------

def _until(cond) -> None:
    """Wait for a state the job's thread reaches on its own (it polls the store)."""
    done = threading.Event()
    for _ in range(int(TIMEOUT / 0.01)):
        if cond():
            return
        done.wait(0.01)
    raise AssertionError("the job never got there")


@pytest.fixture
def other(store):
    """Another process's view of the same store file."""
    return RunStore(store.path)


def _behind_another_process(registry, store, gate, other):
    """(job, its runner): a job for an experiment another process has claimed, waiting for it,
    next in line as its watchers are told, nothing trained."""
    assert other.try_claim("k", "other-process", 30)
    runner = Scripted()
    job, _ = _join(registry, store, gate, runner)
    _until(lambda: job.queue_state() == (1, 1))  # to the watchers: next in line
    return job, runner


def test_a_job_waits_in_line_for_another_process_and_is_served_its_result(registry, store, gate, other):
    job, runner = _behind_another_process(registry, store, gate, other)
    assert not job.done.is_set() and runner.calls == 0
    exp = stopped_experiment(BASE, {"run": {}}, "trained elsewhere")
    exp.runs[0].status = "ok"
    other.put("k", exp.to_dict(), summarize(exp))
    other.release_claim("k", "other-process")
    assert job.done.wait(TIMEOUT)
    assert job.error is None and job.from_store and not job.trained and runner.calls == 0
    assert job.result.title == "trained elsewhere"
    job.leave()


def test_a_job_holds_the_claim_while_it_trains_and_takes_over_a_given_up_one(registry, store, gate, other):
    job, runner = _behind_another_process(registry, store, gate, other)
    other.release_claim("k", "other-process")  # stopped there without a result
    runner.step()
    runner.wait_epochs(1)
    holder = other.claim_holder("k")
    assert holder is not None and holder != "other-process"  # the job's own claim, while it trains
    assert not other.try_claim("k", "third-process", 30)
    _finish(job, runner)
    assert job.trained and job.error is None and other.get("k") == job.result.to_dict()
    assert other.claim_holder("k") is None  # released after storing
    job.leave()


def test_a_job_left_while_another_process_trains_stops_waiting(registry, store, gate, other):
    job, runner = _behind_another_process(registry, store, gate, other)
    job.leave(stop=True)
    assert job.done.wait(TIMEOUT)
    assert isinstance(job.error, jobs_mod.Cancelled) and runner.calls == 0
    assert other.claim_holder("k") == "other-process"  # theirs, untouched


def test_jobs_a_stop_ended_are_kept_for_their_page_newest_few_and_once(registry, store, gate):
    """The registry keeps the jobs a Stop ended (a watcher's leave(stop=True), stop_unwatched)
    until stopped_job collects them, once, and only the STOPPED_KEPT newest: a page that never
    comes back holds no memory for long. A job left without Stop is not kept."""
    from core.serve.jobs import STOPPED_KEPT

    made = []
    for i in range(STOPPED_KEPT + 2):
        runner = Scripted()
        job, _ = _join(registry, store, gate, runner, key=f"k{i}")
        job.leave(stop=True)
        runner.step(99)
        _finish(job, runner)
        made.append(job)
    assert registry.stopped_job((str(store.path), "k0")) is None  # the oldest ones were let go
    newest = made[-1]
    assert registry.stopped_job(newest.key) is newest and newest.done.is_set()
    assert registry.stopped_job(newest.key) is None  # once
    runner = Scripted()
    job, _ = _join(registry, store, gate, runner, key="left")
    job.leave()  # a rerun, not a Stop: the grace period decides, nothing is kept
    assert registry.stopped_job(job.key) is None
    assert registry.stop_unwatched(job.key) and registry.stopped_job(job.key) is job
    runner.step(99)
    _finish(job, runner)
