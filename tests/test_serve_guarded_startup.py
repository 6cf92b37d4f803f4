"""run_guarded's local budget (big links ask first) and Stop during start-up: the huge link trains
nothing until confirmed, Stop, a closed page or a host stop signal end a run still building its
data and networks within 2 s. Waits end on events and joins, never on sleeps."""
from __future__ import annotations

import threading

import pytest
from guarded_helpers import LONG, TIMEOUT, TINY, Interrupting, Rerun
from guarded_helpers import codes as _codes

import core.train as train_mod
from core.config import validate
from core.serve import notes as N
from core.serve.errors import BudgetError
from core.serve.jobs import ORPHAN_GRACE_S
from core.serve.limits import Limits

HUGE_LINK = dict(width=1024, depth=20, epochs=5000, seeds=64, n_samples=20000)  # issue 13's link


def test_the_huge_link_trains_nothing_until_confirmed_and_not_even_then(guard, store, calls):
    from core.serve.errors import NeedsConfirmation

    base = validate(**HUGE_LINK)
    variants = {"ReLU": {}, "linear": {"activation": "linear"}}
    with pytest.raises(NeedsConfirmation) as asked:
        guard(base, variants, limits=Limits.local_defaults())
    assert asked.value.estimate.refused is not None  # the page can say so before anyone confirms
    with pytest.raises(BudgetError, match="2048 MB per run"):  # confirmed: over the memory limit, still no
        guard(base, variants, limits=Limits.local_defaults(), confirmed=True)
    assert calls == [] and store.list() == []


def test_a_run_over_the_local_budget_trains_once_confirmed(guard, store, calls):
    from core.serve.errors import NeedsConfirmation

    small_budget = Limits(max_work=1000, max_memory_mb=2048, ask_first=True)
    with pytest.raises(NeedsConfirmation):
        guard(validate(**TINY), limits=small_budget)
    assert calls == []
    exp, _, _ = guard(validate(**TINY), limits=small_budget, confirmed=True)
    assert exp.status == "ok" and len(calls) == 1 and len(store.list()) == 1


@pytest.mark.parametrize("phase", ["data", "networks"])
def test_stop_during_start_up_ends_the_run_within_2_s(guard, store, gate, jobs, calls, monkeypatch, phase):
    """A Stop press while the run builds its data or its networks ends it there: the job checks
    its stop between the steps of start-up. The start-up step here waits until the Stop press
    has reached the job (an event, not a sleep), as a slow one would have gone on meanwhile."""
    from core.serve.jobs import Job

    entered, stop, reached = threading.Event(), threading.Event(), threading.Event()
    real_leave = Job.leave

    def leave(self, stop: bool = False) -> int:
        others = real_leave(self, stop)
        if stop:
            reached.set()
        return others
    monkeypatch.setattr(Job, "leave", leave)

    def slow(real):
        def step(*a, **k):
            entered.set()
            assert reached.wait(TIMEOUT)
            return real(*a, **k)
        return step
    name = "make_dataset" if phase == "data" else "BatchedNet"
    monkeypatch.setattr(train_mod, name, slow(getattr(train_mod, name)))

    out: dict = {}
    t = threading.Thread(target=lambda: out.update(r=guard(validate(**LONG), user_stop=stop.is_set)))
    t.start()
    assert entered.wait(TIMEOUT)
    stop.set()
    t.join(2.0)
    assert not t.is_alive(), "Stop during start-up did not end the run within 2 s"
    exp, from_store, notes = out["r"]
    assert exp.runs[0].epochs_done == 0 and exp.status == "stopped" and not from_store
    assert N.STOPPED_BY_YOU in _codes(notes)
    assert jobs.wait_idle(TIMEOUT) and gate.stats() == (0, 0) and store.list() == [] and len(calls) == 1


def test_a_page_gone_during_start_up_stops_its_run(guard, store, gate, jobs, clock, calls, monkeypatch):
    """The watcher vanishes (a Streamlit rerun or a closed tab) while the run still builds its
    data: after the grace period the job stops at the next step of start-up."""
    entered, release = threading.Event(), threading.Event()
    real = train_mod.make_dataset

    def slow(*a, **k):
        entered.set()
        assert release.wait(TIMEOUT)
        return real(*a, **k)
    monkeypatch.setattr(train_mod, "make_dataset", slow)

    def gone() -> bool:
        if entered.is_set():
            raise Rerun()
        return False

    with pytest.raises(Rerun):
        guard(validate(**LONG), user_stop=gone)
    clock.advance(ORPHAN_GRACE_S)
    release.set()
    assert jobs.wait_idle(TIMEOUT) and gate.stats() == (0, 0) and store.list() == [] and len(calls) == 1


def test_a_host_stop_signal_stops_the_run_at_once(guard, store, gate, jobs, calls):
    """Streamlit's header Stop raises its StopException in the watcher's callbacks: passed as
    stop_on, it stops the run at once, like the Stop button (the clock never moves here, so no
    grace period ran out), while another exception (a rerun) leaves it running to be rejoined."""
    class HostStop(BaseException):
        pass

    with pytest.raises(HostStop):
        guard(validate(**LONG), on_epoch=Interrupting(HostStop, after=1), stop_on=(HostStop,))
    assert jobs.wait_idle(TIMEOUT) and gate.stats() == (0, 0) and store.list() == [] and len(calls) == 1
