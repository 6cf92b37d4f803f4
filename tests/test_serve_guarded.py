"""run_guarded end to end on the real engine: store first, one training per identical request,
nothing stopped kept but a run cut at the time limit (marked partial), the time limit, Stop, sessions that go away and come back. Waits end on
events and joins; the time limit and the grace period run on a clock the test moves."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from guarded_helpers import HOSTED, LONG, TIMEOUT, TINY, Epochs, Interrupting, Rerun
from guarded_helpers import codes as _codes

from core.config import ConfigError, validate
from core.serve import notes as N
from core.serve.errors import BudgetError, Cancelled, QueueFull
from core.serve.gate import TrainingGate
from core.serve.guarded import run_guarded, stop_unwatched
from core.serve.jobs import ORPHAN_GRACE_S, thread_runner
from core.serve.limits import HOSTED_MAX_WORK, Limits
from core.serve.partial import load_partial, partial_key
from core.store import store_key


def test_second_identical_request_is_served_from_the_store(guard, store, calls):
    base, variants = validate(**TINY), {"ReLU": {}, "dropout": {"dropout": 0.5}}
    epochs_seen, threads_seen = [], set()

    def on_epoch(exp, vi, epoch):
        epochs_seen.append((vi, epoch))
        threads_seen.add(threading.get_ident())

    exp, from_store, notes = guard(base, variants, on_epoch=on_epoch, title="tiny", preset="p")
    assert not from_store and exp.status == "ok" and len(calls) == 1 and notes == []
    assert [r.name for r in exp.runs] == ["ReLU", "dropout"] and exp.title == "tiny"
    assert epochs_seen and epochs_seen[-1] == (1, 3)  # the last call shows the finished run
    assert threads_seen == {threading.get_ident()}  # callbacks run in the caller's thread (Streamlit)
    [row] = store.list()
    assert row["status"] == "ok" and row["variants"] == ["ReLU", "dropout"] and row["title"] == "tiny"
    assert set(row["val_acc"]) == {"ReLU", "dropout"} and row["preset"] == "p"

    exp2, from_store2, notes2 = guard(base, variants, title="tiny", preset="p")
    assert from_store2 and len(calls) == 1
    assert notes2 == [N.from_store()] and notes2[0].level == "info"
    np.testing.assert_array_equal(exp2.run("dropout").curve("val_acc"), exp.run("dropout").curve("val_acc"))
    # same settings under other names: still the stored run, shown with the caller's names
    exp3, from_store3, _ = guard(base, {"a": {}, "b": {"dropout": 0.5}})
    assert from_store3 and [r.name for r in exp3.runs] == ["a", "b"] and len(calls) == 1


def test_identical_concurrent_requests_train_once(guard, store, calls):
    base, start = validate(**TINY), threading.Barrier(6)
    results, errors = [None] * 6, []

    def request(i):
        start.wait()
        try:
            results[i] = guard(base, {"run": {}})
        except BaseException as e:  # noqa: BLE001 - asserted below
            errors.append(e)

    threads = [threading.Thread(target=request, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert not errors and len(calls) == 1
    accs = [r[0].run("run").final("val_acc") for r in results]
    for a in accs[1:]:
        np.testing.assert_array_equal(a, accs[0])
    assert len(store.list()) == 1
    shared = [notes for _, from_store, notes in results if not from_store and N.SHARED in _codes(notes)]
    assert len(shared) + sum(r[1] for r in results) == 5  # the others watched it or read it from the store


def test_watchers_get_private_views_never_the_live_experiment(guard, calls, monkeypatch):
    live, shown = [], {"a": [], "b": []}

    def runner(base, variants, on_epoch, should_stop, max_threads):
        def spy(exp, vi, epoch):
            live[:] = [exp]
            on_epoch(exp, vi, epoch)
        return thread_runner(base, variants, spy, should_stop, max_threads)

    base, start = validate(**dict(TINY, epochs=30)), threading.Barrier(2)
    out = {}

    def watch(name):
        start.wait()
        out[name] = guard(base, {name: {}}, runner=runner, on_epoch=lambda e, vi, ep: shown[name].append(e))

    threads = [threading.Thread(target=watch, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(TIMEOUT)
    assert len(calls) == 1 and shown["a"] and shown["b"]
    for name, views in shown.items():
        for v in views:
            assert v is not live[0] and v.runs[0] is not live[0].runs[0]
            assert v.runs[0].name == name  # each watcher sees its own names
            assert not v.runs[0].metrics["val_acc"].flags.writeable
    final = {name: out[name][0] for name in out}
    assert final["a"].runs[0].name == "a" and final["b"].runs[0].name == "b"
    final["a"].runs[0].status = "changed by a"  # private: b's copy is another object
    assert final["b"].runs[0].status == "ok"


def test_a_stopped_run_is_returned_but_not_stored(guard, store, calls):
    base = validate(**LONG)
    seen = Epochs()
    exp, from_store, notes = guard(base, on_epoch=seen, user_stop=lambda: bool(seen.seen))
    assert exp.status == "stopped" and not from_store
    assert 0 < exp.runs[0].epochs_done < 3001
    assert _codes(notes) == [N.STOPPED_BY_YOU] and notes[0].text.startswith("Stopped at your request after epoch")
    assert store.list() == [] and store.get(store_key([base])) is None


def _cut_at_the_limit(guard, store, clock):
    def runner(base, variants, on_epoch, should_stop, max_threads):
        def tick(exp, vi, epoch):
            if epoch == 5:
                clock.advance(0.3)  # the limit passes while epoch 5 is reported
            on_epoch(exp, vi, epoch)
        return thread_runner(base, variants, tick, should_stop, max_threads)

    lim = Limits(hosted=True, max_work=HOSTED_MAX_WORK, max_seconds=0.3)
    exp, from_store, notes = guard(validate(**LONG), limits=lim, runner=runner)
    assert exp.status == "stopped" and not from_store and 6 <= exp.runs[0].epochs_done < 100
    assert _codes(notes) == [N.STOPPED_AT_LIMIT]
    assert notes[0].text.startswith("Stopped at the 0.3 s limit of the hosted demo after epoch")
    # Kept as what it is: a partial run, under a key of its own (the experiment's stays free).
    [row] = store.list()
    assert row["status"] == "stopped" and row["partial"] == "time_limit" and row["limit_s"] == 0.3
    assert row["key"] == partial_key(store_key([validate(**LONG)])) and store.get(store_key([validate(**LONG)])) is None
    return exp


def test_a_run_over_the_time_limit_stops_and_says_so(guard, store, clock, calls):
    _cut_at_the_limit(guard, store, clock)
    assert len(calls) == 1


def test_a_run_cut_at_the_limit_is_served_as_partial_not_trained_again(guard, store, clock, calls):
    first = _cut_at_the_limit(guard, store, clock)
    lim = Limits(hosted=True, max_work=HOSTED_MAX_WORK, max_seconds=0.3)
    again, from_store, notes = guard(validate(**LONG), {"mine": {}}, limits=lim)
    assert from_store and len(calls) == 1 and again.status == "stopped" and again.runs[0].name == "mine"
    assert again.runs[0].epochs_done == first.runs[0].epochs_done
    assert _codes(notes) == [N.STOPPED_AT_LIMIT] and "this is that partial run" in notes[0].text
    np.testing.assert_array_equal(again.runs[0].curve("val_acc"), first.runs[0].curve("val_acc"))
    # a server that allows longer (or has no limit) would train it whole instead
    longer = Limits(hosted=True, max_work=HOSTED_MAX_WORK, max_seconds=0.5)
    assert load_partial(store, store_key([validate(**LONG)]), longer) is None
    assert load_partial(store, store_key([validate(**LONG)]), Limits()) is None


def test_a_diverging_run_is_a_result_and_is_stored(guard, store, calls):
    base = validate(optimizer="sgd", lr=10, depth=3, init="he", n_samples=100, epochs=5, width=32, seeds=2,
                    batch_size=32)
    exp, from_store, notes = guard(base)
    assert exp.status == "diverged" and not from_store
    [note] = notes
    assert note.code == N.DIVERGED and "seeds diverged" in note.text and "learning rate below 10" in note.text
    [row] = store.list()
    assert row["status"] == "diverged"
    again, from_store, _ = guard(base)
    assert from_store and again.status == "diverged" and len(calls) == 1


def test_budget_is_checked_before_any_training(guard, store, gate, calls):
    with pytest.raises(BudgetError, match="the hosted demo allows 1000"):
        guard(validate(**TINY), limits=Limits(hosted=True, max_work=1000))
    assert calls == [] and store.list() == [] and gate.stats() == (0, 0)


def test_a_stored_run_is_served_whatever_its_size(guard, calls):
    base = validate(**TINY)
    guard(base, limits=Limits())  # trained locally, no limits
    exp, from_store, _ = guard(base, limits=Limits(hosted=True, max_work=1000))
    assert from_store and exp.status == "ok" and len(calls) == 1


def test_an_unreadable_stored_copy_is_trained_again(guard, store, calls):
    base = validate(**TINY)
    store.put(store_key([base]), {"not": "an experiment"}, {"title": "junk"})
    exp, from_store, notes = guard(base)
    assert not from_store and exp.status == "ok" and len(calls) == 1
    assert _codes(notes) == [N.STORED_COPY_UNREADABLE] and "could not be read" in notes[0].text
    assert guard(base)[1]  # and stored properly now


def test_a_bad_variant_is_a_config_error_before_any_training(guard, calls):
    with pytest.raises(ConfigError, match="^dropout:"):
        guard(validate(**TINY), {"x": {"dropout": 2.0}})
    assert calls == []


def _csv(path, shift=0.0):
    rng = np.random.default_rng(0)
    rows = ["x1,x2,label"] + [f"{a + shift:.4f},{b:.4f},{int(a > 0)}" for a, b in rng.normal(size=(60, 2))]
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def test_csv_runs_are_keyed_by_content_not_path(tmp_path, guard, calls):
    a, b, c = _csv(tmp_path / "a.csv"), _csv(tmp_path / "b.csv"), _csv(tmp_path / "c.csv", shift=0.5)
    cfg = dict(dataset="csv", epochs=2, width=8, seeds=1, batch_size=16)
    assert store_key([validate(cfg, data_path=a)]) == store_key([validate(cfg, data_path=b)])
    assert store_key([validate(cfg, data_path=a)]) != store_key([validate(cfg, data_path=c)])
    assert not guard(validate(cfg, data_path=a))[1]
    exp, from_store, _ = guard(validate(cfg, data_path=b))
    assert from_store and exp.status == "ok"  # the same upload under another temp name
    assert not guard(validate(cfg, data_path=c))[1] and len(calls) == 2


def test_a_full_queue_is_refused(store, jobs, calls):
    g = TrainingGate(1, 0, poll=0.01)
    with g.slot():
        with pytest.raises(QueueFull):
            run_guarded(validate(**TINY), None, limits=HOSTED, store=store, gate=g, jobs=jobs)
        assert jobs.wait_idle(TIMEOUT)
    assert calls == [] and store.list() == []


def test_waiting_requests_see_their_place_and_can_leave(store, jobs, calls):
    g, waits = TrainingGate(1, 5, poll=0.01), []
    with g.slot():
        with pytest.raises(Cancelled):
            run_guarded(validate(**TINY), None, limits=HOSTED, store=store, gate=g, jobs=jobs,
                        on_wait=lambda p, w, *_: waits.append((p, w)), cancelled=lambda: len(waits) >= 2)
        assert waits[0] == (1, 1)
        assert jobs.wait_idle(TIMEOUT)  # the abandoned run left the line, no grace period
        assert g.stats() == (1, 0)
    assert calls == [] and store.list() == []


def test_stop_while_still_in_line_returns_an_empty_stopped_run(store, jobs, calls):
    g, waits = TrainingGate(1, 5, poll=0.01), []
    with g.slot():
        exp, from_store, notes = run_guarded(validate(**TINY), {"a": {}, "b": {}}, limits=HOSTED, store=store,
                                             gate=g, jobs=jobs, on_wait=lambda p, w, *_: waits.append(p),
                                             user_stop=lambda: bool(waits))
        assert jobs.wait_idle(TIMEOUT)
    assert exp.status == "stopped" and [r.name for r in exp.runs] == ["a", "b"] and not from_store
    assert all(r.epochs_done == 0 for r in exp.runs) and _codes(notes) == [N.STOPPED_IN_LINE]
    assert calls == []


def test_a_session_that_goes_away_frees_its_slot(guard, store, gate, jobs, clock, calls):
    def on_epoch(exp, vi, epoch):
        raise Rerun()  # Streamlit interrupts the script at its next page update

    with pytest.raises(Rerun):
        guard(validate(**LONG), on_epoch=on_epoch)
    clock.advance(ORPHAN_GRACE_S)  # nobody came back within the grace period
    assert jobs.wait_idle(TIMEOUT) and gate.stats() == (0, 0)
    assert store.list() == [] and len(calls) == 1


def test_stop_pressed_in_the_rerun_stops_the_run_at_once(guard, store, gate, jobs, calls):
    base = validate(**LONG)
    with pytest.raises(Rerun):
        guard(base, on_epoch=lambda e, vi, ep: (_ for _ in ()).throw(Rerun()))
    assert not stop_unwatched(base, {"x": {"dropout": 2.0}}, store=store, jobs=jobs)  # not a valid experiment
    assert stop_unwatched(base, None, store=store, jobs=jobs)  # the clock never moves: no grace period ran out
    assert jobs.wait_idle(TIMEOUT) and gate.stats() == (0, 0) and store.list() == []


def test_a_rerun_rejoins_the_run_it_left(guard, store, calls):
    base = validate(**LONG)
    with pytest.raises(Rerun):
        guard(base, on_epoch=lambda e, vi, ep: (_ for _ in ()).throw(Rerun()))
    seen = Epochs()  # asked again within the grace period (the clock does not move): the same run
    exp, _, notes = guard(base, on_epoch=seen, user_stop=lambda: len(seen.seen) >= 3)
    assert _codes(notes) == [N.SHARED, N.STOPPED_BY_YOU]
    assert len(calls) == 1 and exp.status == "stopped" and store.list() == []


def test_stopping_while_others_watch_does_not_stop_their_run(guard, store, calls):
    base, out, b_stop, b_seen = validate(**LONG), {}, threading.Event(), Epochs()

    def b():
        out["b"] = guard(base, on_epoch=b_seen, user_stop=b_stop.is_set)

    watcher = threading.Thread(target=b)
    watcher.start()
    b_seen.wait_for(len, "b's run to start")
    exp, from_store, notes = guard(base, user_stop=lambda: True)
    assert exp.status == "stopped" and not from_store and exp.runs[0].epochs_done > 0
    assert N.GOES_ON in _codes(notes) and any("goes on for the 1 other session" in n.text for n in notes)
    a_done = exp.runs[0].last_epoch  # an epoch number: long curves are thinned (core.serve.thin)
    b_seen.wait_for(lambda s: s[-1] > a_done + 5, "b's run to go on")  # not stopped by a
    b_stop.set()
    watcher.join(TIMEOUT)
    b_exp, _, b_notes = out["b"]
    assert b_exp.status == "stopped" and b_exp.runs[0].last_epoch > a_done + 5
    assert N.STOPPED_BY_YOU in _codes(b_notes)
    assert len(calls) == 1 and store.list() == []


def test_a_visitor_has_one_run_in_line_and_is_told_the_wait(store, jobs, calls):
    g, waits, leave = TrainingGate(1, 5, poll=0.01, max_per_visitor=1), Epochs(), threading.Event()
    errors = []

    def first():
        try:
            run_guarded(validate(**TINY), None, limits=HOSTED, store=store, gate=g, jobs=jobs, visitor="v",
                        on_wait=lambda p, w, s: waits(None, 0, (p, w, s)), cancelled=leave.is_set)
        except Cancelled as e:
            errors.append(e)

    with g.slot():  # the only slot is taken
        t = threading.Thread(target=first)
        t.start()
        waits.wait_for(len, "v's run in line")
        position, waiting, wait_s = waits.seen[0]
        assert (position, waiting) == (1, 1) and wait_s is not None and wait_s >= 0
        with pytest.raises(QueueFull, match="You already have 0 runs training and 1 run waiting"):
            run_guarded(validate(**dict(TINY, epochs=4)), None, limits=HOSTED, store=store, gate=g, jobs=jobs,
                        visitor="v")
        leave.set()
        t.join(TIMEOUT)
        assert jobs.wait_idle(TIMEOUT)  # left the line before the slot came free
    assert errors and calls == [] and g.stats() == (0, 0)


def test_the_summary_fields_of_the_caller_are_stored_with_the_run(guard, store, calls):
    private = {"visibility": "private", "owner": "o1", "upload": ["d" * 32]}
    guard(validate(**TINY), summary=private)
    [row] = store.list()
    assert {k: row[k] for k in private} == private and row["status"] == "ok"


def test_stop_and_collect_gives_the_stopped_run_with_its_final_pictures(guard, store, gate, jobs, calls):
    """The page's Stop: the request is interrupted (it keeps the latest snapshot, no final
    pictures), then its rerun stops the job and takes the run as it ended: every variant stopped
    at the same epoch, each with the boundary and raster of its last measured epoch."""
    from core.serve.guarded import stop_and_collect

    base, variants = validate(**LONG), {"ReLU": {}, "dropout": {"dropout": 0.5}}
    with pytest.raises(Rerun):
        guard(base, variants, on_epoch=Interrupting(Rerun, after=6))
    ended = stop_and_collect(base, variants, store=store, jobs=jobs, wait_s=TIMEOUT)
    assert ended is not None and [r.name for r in ended.runs] == ["ReLU", "dropout"]
    assert {r.status for r in ended.runs} == {"stopped"}
    last = {r.last_epoch for r in ended.runs}
    assert len(last) == 1 and 2 <= last.pop() < LONG["epochs"]  # together, and well before the end
    for r in ended.runs:
        assert {"boundary", "raster"} <= set(r.artifacts) and "shown_epoch" not in r.artifacts
    assert stop_and_collect(base, variants, store=store, jobs=jobs, wait_s=0.0) is None  # nothing left to stop
    assert jobs.wait_idle(TIMEOUT) and gate.stats() == (0, 0) and store.list() == [] and len(calls) == 1


def test_a_run_streamlit_stopped_is_collected_by_the_next_rerun(guard, store, gate, jobs, calls):
    """The Stop button in a real browser: Streamlit ends the request with its own stop signal
    (stop_on), which stops the job at once and leaves it; the rerun then collects the run as it
    ended, once (the registry keeps it until then)."""
    from core.serve.guarded import stop_and_collect

    class HostStop(BaseException):
        pass

    base = validate(**LONG)
    with pytest.raises(HostStop):
        guard(base, on_epoch=Interrupting(HostStop, after=3), stop_on=(HostStop,))
    ended = stop_and_collect(base, None, store=store, jobs=jobs, wait_s=TIMEOUT)
    assert ended is not None and ended.runs[0].status == "stopped" and 2 <= ended.runs[0].last_epoch < LONG["epochs"]
    assert {"boundary", "raster"} <= set(ended.runs[0].artifacts)
    assert stop_and_collect(base, None, store=store, jobs=jobs, wait_s=0.0) is None  # collected once
    assert jobs.wait_idle(TIMEOUT) and gate.stats() == (0, 0) and store.list() == [] and len(calls) == 1
