"""Hosted-demo guard rails: limits from the environment, budgets, the time limit, the fair
queue, and run_guarded (store first, one training per identical request, nothing partial kept)."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import core.train as train_mod
from core import hosting
from core.config import ConfigError, validate
from core.hosting import (
    ENV_HOSTED,
    HOSTED_MAX_WORK,
    BudgetError,
    Cancelled,
    Limits,
    QueueFull,
    TrainingGate,
    apply_thread_settings,
    check_budget,
    deadline_stop,
    estimate_memory_mb,
    run_guarded,
    store_key,
    waiting_message,
    work,
)
from core.presets import PRESETS
from core.store import RunStore

TINY = dict(n_samples=100, epochs=3, width=8, seeds=2, batch_size=32)
LONG = dict(TINY, epochs=3000)  # about 20 s if nobody stops it
HOSTED = Limits(hosted=True, max_work=HOSTED_MAX_WORK, max_seconds=60.0, max_memory_mb=512)  # threads untouched


class Rerun(BaseException):
    """Stands in for Streamlit's RerunException / StopException (BaseException subclasses)."""


def _wait_until(cond, timeout=10.0, what="condition"):
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def _threads(n, target):
    out, errors = [None] * n, []

    def run(i):
        try:
            out[i] = target(i)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    ts = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors, errors
    return out


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs.db")


@pytest.fixture
def gate():
    g = TrainingGate(2, 50, poll=0.02)
    yield g
    _wait_until(lambda: g.stats() == (0, 0), what="the gate to empty")  # no run left behind


@pytest.fixture
def calls(monkeypatch):
    """Counts trainings: run_guarded looks core.train.run_experiment up at call time."""
    real, seen = train_mod.run_experiment, []

    def counting(*args, **kwargs):
        seen.append(threading.get_ident())
        return real(*args, **kwargs)

    monkeypatch.setattr(train_mod, "run_experiment", counting)
    return seen


# --- limits ------------------------------------------------------------------------------------

def test_limits_defaults_are_local():
    lim = Limits.from_env({})
    assert lim == Limits()
    assert not lim.hosted and lim.max_work is None and lim.max_seconds is None and lim.max_memory_mb is None
    assert lim.max_concurrent == 2 and lim.max_queue == 50 and lim.torch_threads is None
    assert "Local" in lim.describe()


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_limits_hosted_on(value):
    lim = Limits.from_env({ENV_HOSTED: value})
    assert lim == Limits.hosted_defaults()
    assert lim.hosted and lim.max_work == HOSTED_MAX_WORK and lim.max_seconds == 60 and lim.torch_threads == 1
    assert "Hosted demo" in lim.describe() and "60 s" in lim.describe()


@pytest.mark.parametrize("value", ["0", "false", "no", ""])
def test_limits_hosted_off(value):
    assert Limits.from_env({ENV_HOSTED: value}) == Limits()


def test_limits_overrides():
    lim = Limits.from_env({ENV_HOSTED: "1", "RELU_LAB_MAX_WORK": "1e9", "RELU_LAB_MAX_SECONDS": "30.5",
                           "RELU_LAB_MAX_CONCURRENT": "3", "RELU_LAB_MAX_QUEUE": "0",
                           "RELU_LAB_MAX_MEMORY_MB": "none", "RELU_LAB_TORCH_THREADS": "2"})
    assert (lim.max_work, lim.max_seconds, lim.max_concurrent, lim.max_queue, lim.max_memory_mb,
            lim.torch_threads) == (10**9, 30.5, 3, 0, None, 2)
    local = Limits.from_env({"RELU_LAB_MAX_WORK": "1000"})  # a local user may set a budget too
    assert not local.hosted and local.max_work == 1000 and local.max_seconds is None


def test_limits_read_os_environ(monkeypatch):
    monkeypatch.setenv(ENV_HOSTED, "yes")
    monkeypatch.setenv("RELU_LAB_MAX_SECONDS", "12")
    assert Limits.from_env().max_seconds == 12 and Limits.from_env().hosted


@pytest.mark.parametrize("var,value", [
    ("RELU_LAB_MAX_WORK", "lots"), ("RELU_LAB_MAX_WORK", "nan"), ("RELU_LAB_MAX_WORK", "1.5"),
    ("RELU_LAB_MAX_SECONDS", "-5"), ("RELU_LAB_MAX_CONCURRENT", "0"), ("RELU_LAB_MAX_CONCURRENT", "1.5"),
    ("RELU_LAB_MAX_QUEUE", "many"), (ENV_HOSTED, "maybe"),
])
def test_limits_bad_value_names_the_variable(var, value):
    with pytest.raises(ConfigError) as e:
        Limits.from_env({ENV_HOSTED: "1", var: value})
    msg = str(e.value)
    assert msg.startswith(f"{var}: {value!r} is not allowed; allowed: ") and "\n" not in msg


# --- budgets -----------------------------------------------------------------------------------

def test_work_formula():
    c = validate(epochs=10, n_samples=100, width=8, depth=2, seeds=3)
    assert work([c]) == 10 * 100 * 8 * 2 * 3
    assert work([c, c.replace(width=16)]) == 10 * 100 * 8 * 2 * 3 * 3


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_fits_the_hosted_defaults(name):
    configs = list(PRESETS[name].variant_configs().values())
    check_budget(configs, Limits.hosted_defaults())
    # with room to spare: a seminar may double a preset's epochs
    assert 2 * work(configs) <= HOSTED_MAX_WORK
    assert estimate_memory_mb(configs) <= Limits.hosted_defaults().max_memory_mb / 2


def test_budget_message_names_work_budget_and_biggest_factors_first():
    big = validate(epochs=5000, n_samples=20000, width=1024)
    with pytest.raises(BudgetError) as e:
        check_budget([big], Limits.hosted_defaults())
    msg = str(e.value)
    assert msg.startswith("This run is 6.1e11 units of work (epochs × samples × width × depth × seeds)")
    assert "the hosted demo allows 5.0e8" in msg and "\n" not in msg
    assert msg.index("epochs (5000") < msg.index("n_samples (20000)") < msg.index("width (1024)")
    assert "depth" not in msg.split("Reduce")[1] and "seeds" not in msg.split("Reduce")[1]  # at their defaults


def test_budget_message_suggests_a_value_that_fits():
    cfg = validate(seeds=64, n_samples=20000, batch_size=64, epochs=10)
    with pytest.raises(BudgetError, match=r"Reduce seeds \(64; at most 19 fits\) or n_samples \(20000\)\."):
        check_budget([cfg], Limits.hosted_defaults())
    check_budget([cfg.replace(seeds=19)], Limits.hosted_defaults())  # and it does fit


def test_budget_counts_every_variant():
    c = validate(epochs=2000, n_samples=10000, width=16, seeds=3)  # 1.9e9 for four variants
    with pytest.raises(BudgetError, match="over 4 variants"):
        check_budget([c] * 4, Limits.hosted_defaults())
    check_budget([c.replace(epochs=100)] * 4, Limits.hosted_defaults())


def test_budget_memory_check_catches_huge_networks_of_little_work():
    # 1 epoch of 50 points is almost no work, but 64 networks of 20 x 1024^2 weights is 20+ GB
    cfg = validate(width=1024, depth=20, seeds=64, epochs=1, n_samples=50, batch_size=16)
    assert work([cfg]) < HOSTED_MAX_WORK
    with pytest.raises(BudgetError) as e:
        check_budget([cfg], Limits.hosted_defaults())
    msg = str(e.value)
    assert "GB of memory" in msg and "512 MB per run" in msg
    assert msg.index("width (1024)") < msg.index("seeds (64)")


def test_local_limits_never_reject():
    check_budget([validate(epochs=5000, n_samples=20000, width=1024, depth=20, seeds=64)], Limits())


# --- deadline ----------------------------------------------------------------------------------

def test_deadline_fires_and_says_it_was_the_time_limit():
    stop = deadline_stop(0.05)
    assert not stop() and not stop.timed_out
    time.sleep(0.08)
    assert stop() and stop.timed_out and not stop.requested
    assert stop()  # sticky


def test_deadline_also_is_the_stop_button():
    pressed = [False]
    stop = deadline_stop(60, also=lambda: pressed[0])
    assert not stop()
    pressed[0] = True
    assert stop() and stop.requested and not stop.timed_out
    assert not deadline_stop(None)()  # no limit


# --- the gate ----------------------------------------------------------------------------------

def test_gate_never_lets_more_than_max_concurrent_in():
    g, lock, inside, peak = TrainingGate(2, 50, poll=0.01), threading.Lock(), [0], [0]

    def work_(i):
        with g.slot():
            with lock:
                inside[0] += 1
                peak[0] = max(peak[0], inside[0])
            time.sleep(0.02)
            with lock:
                inside[0] -= 1

    _threads(8, work_)
    assert peak[0] == 2 and g.stats() == (0, 0)


def test_gate_is_strict_fifo_and_reports_decreasing_positions():
    g = TrainingGate(1, 50, poll=0.01)
    n, order, positions = 6, [], [[] for _ in range(6)]
    holder = g.slot()
    holder.__enter__()
    threads = []
    for i in range(n):  # enqueue in a known order while the only slot is held
        def waiter(i=i):
            with g.slot(on_wait=lambda p, w: positions[i].append((p, w))):
                order.append(i)
                time.sleep(0.03)
        t = threading.Thread(target=waiter)
        t.start()
        threads.append(t)
        _wait_until(lambda i=i: g.stats().waiting == i + 1 and len(positions[i]) > 0, what=f"waiter {i}")
    assert g.stats() == (1, n)
    holder.__exit__(None, None, None)
    for t in threads:
        t.join(10)
    assert order == list(range(n))  # nobody overtook
    for i, seen in enumerate(positions):
        ps = [p for p, _ in seen]
        assert ps[0] == i + 1 and seen[0][1] == i + 1  # 1-based place, and how many were waiting
        assert all(a >= b >= 1 for a, b in zip(ps, ps[1:], strict=False))  # only ever moves up
    assert positions[-1][-1][0] < n  # the last one saw the line move
    assert g.stats() == (0, 0)
    assert waiting_message(3, 5) == "Waiting for a training slot: you are 3rd in line (5 waiting)."
    assert waiting_message(1, 1) == "Waiting for a training slot: you are next."


def test_gate_cancelled_leaves_the_queue_without_a_slot():
    g = TrainingGate(1, 50, poll=0.01)
    gone, result, entered = threading.Event(), {}, []
    holder = g.slot()
    holder.__enter__()

    def abandoned():
        try:
            with g.slot(cancelled=gone.is_set):
                entered.append("a")
        except Cancelled as e:
            result["a"] = str(e)

    def patient():
        with g.slot(on_wait=lambda p, w: result.setdefault("b_positions", []).append(p)):
            entered.append("b")

    ta, tb = threading.Thread(target=abandoned), threading.Thread(target=patient)
    ta.start()
    _wait_until(lambda: g.stats().waiting == 1)
    tb.start()
    _wait_until(lambda: g.stats().waiting == 2)
    gone.set()
    ta.join(5)
    assert "abandoned" in result["a"] and g.stats() == (1, 1)
    _wait_until(lambda: result["b_positions"][-1] == 1, what="b to move up")
    holder.__exit__(None, None, None)
    tb.join(5)
    assert entered == ["b"] and g.stats() == (0, 0)


def test_gate_on_wait_raising_leaves_the_queue():
    g, caught = TrainingGate(1, 50, poll=0.01), []

    def rerun(position, waiting):
        raise Rerun()  # what Streamlit does to a session's thread on rerun or stop

    def session():
        try:
            with g.slot(on_wait=rerun):
                caught.append("entered")
        except Rerun as e:
            caught.append(e)

    with g.slot():
        t = threading.Thread(target=session)
        t.start()
        t.join(5)
        assert isinstance(caught[0], Rerun) and g.stats() == (1, 0)
    assert g.stats() == (0, 0)


def test_gate_full_queue_raises_at_once():
    g, done = TrainingGate(1, 1, poll=0.01), threading.Event()

    def waiter():
        with g.slot():
            done.set()

    with g.slot():
        t = threading.Thread(target=waiter)
        t.start()
        _wait_until(lambda: g.stats().waiting == 1)
        t0 = time.monotonic()
        with pytest.raises(QueueFull, match="busy: 1 run is training and 1 is waiting"):
            with g.slot():
                pass
        assert time.monotonic() - t0 < 0.5 and g.stats() == (1, 1)
    t.join(5)
    assert done.is_set() and g.stats() == (0, 0)


@pytest.mark.parametrize("exc", [ValueError, Rerun])
def test_gate_releases_on_exceptions(exc):
    g = TrainingGate(1, 5, poll=0.01)
    with pytest.raises(exc):
        with g.slot():
            assert g.stats() == (1, 0)
            raise exc()
    assert g.stats() == (0, 0)
    with g.slot() as info:  # usable again, at once
        assert info.waited == 0 and info.position == 0


def test_get_gate_is_one_shared_gate_from_the_environment(monkeypatch):
    monkeypatch.setattr(hosting, "GATE", None)
    monkeypatch.setenv("RELU_LAB_MAX_CONCURRENT", "3")
    g = hosting.get_gate()
    assert g is hosting.get_gate() is hosting.GATE and g.max_concurrent == 3


# --- threads -----------------------------------------------------------------------------------

def test_hosted_thread_cap_wins_over_choose_threads():
    import torch

    before = torch.get_num_threads()
    big = validate(width=1024, depth=4, seeds=8, n_samples=20000, batch_size=0)
    assert train_mod.choose_threads(big, 2, 14000, cores=2) == 2  # uncapped: a big step gets every core
    try:
        assert apply_thread_settings(Limits()) is None and torch.get_num_threads() == before
        assert apply_thread_settings(Limits.hosted_defaults()) == 1
        assert torch.get_num_threads() == 1
        # the cap reaches a run as run_experiment's max_threads (what run_guarded passes)
        assert train_mod.choose_threads(big, 2, 14000, Limits.hosted_defaults().torch_threads, cores=2) == 1
    finally:
        torch.set_num_threads(before)


# --- run_guarded -------------------------------------------------------------------------------

def test_second_identical_request_is_served_from_the_store(store, gate, calls):
    base, variants = validate(**TINY), {"ReLU": {}, "dropout": {"dropout": 0.5}}
    epochs_seen, threads_seen = [], set()

    def on_epoch(exp, vi, epoch):
        epochs_seen.append((vi, epoch))
        threads_seen.add(threading.get_ident())

    exp, from_store, notes = run_guarded(base, variants, limits=HOSTED, store=store, gate=gate,
                                         on_epoch=on_epoch, title="tiny", preset="p")
    assert not from_store and exp.status == "ok" and len(calls) == 1
    assert [r.name for r in exp.runs] == ["ReLU", "dropout"] and exp.title == "tiny"
    assert epochs_seen and epochs_seen[-1] == (1, 3)  # the last call shows the finished run
    assert threads_seen == {threading.get_ident()}  # callbacks run in the caller's thread (Streamlit)
    [row] = store.list()
    assert row["status"] == "ok" and row["variants"] == ["ReLU", "dropout"] and row["title"] == "tiny"
    assert set(row["val_acc"]) == {"ReLU", "dropout"} and row["preset"] == "p"

    exp2, from_store2, notes2 = run_guarded(base, variants, limits=HOSTED, store=store, gate=gate,
                                            title="tiny", preset="p")
    assert from_store2 and len(calls) == 1
    assert notes2 == ["Served from the store: this exact experiment was trained before."]
    np.testing.assert_array_equal(exp2.run("dropout").curve("val_acc"), exp.run("dropout").curve("val_acc"))
    # same settings under other names: still the stored run, shown with the caller's names
    exp3, from_store3, _ = run_guarded(base, {"a": {}, "b": {"dropout": 0.5}}, limits=HOSTED, store=store,
                                       gate=gate)
    assert from_store3 and [r.name for r in exp3.runs] == ["a", "b"] and len(calls) == 1


def test_identical_concurrent_requests_train_once(store, gate, calls):
    base, start = validate(**TINY), threading.Barrier(6)

    def request(i):
        start.wait()
        return run_guarded(base, {"run": {}}, limits=HOSTED, store=store, gate=gate)

    results = _threads(6, request)
    assert len(calls) == 1
    accs = [r[0].run("run").final("val_acc") for r in results]
    for a in accs[1:]:
        np.testing.assert_array_equal(a, accs[0])
    assert len(store.list()) == 1
    shared = [notes for _, from_store, notes in results if not from_store and any("already being" in n for n in notes)]
    assert len(shared) + sum(r[1] for r in results) == 5  # the others watched it or read it from the store


def test_a_stopped_run_is_returned_but_not_stored(store, gate, calls):
    base = validate(**LONG)
    seen = []
    exp, from_store, notes = run_guarded(base, None, limits=HOSTED, store=store, gate=gate,
                                         on_epoch=lambda e, vi, ep: seen.append(ep), user_stop=lambda: bool(seen))
    assert exp.status == "stopped" and not from_store
    assert 0 < exp.runs[0].epochs_done < 3001
    assert any(n.startswith("Stopped at your request after epoch") for n in notes)
    assert store.list() == [] and store.get(store_key([base])) is None


def test_a_run_over_the_time_limit_stops_and_says_so(store, gate, calls):
    lim = Limits(hosted=True, max_work=HOSTED_MAX_WORK, max_seconds=0.3)
    t0 = time.monotonic()
    exp, from_store, notes = run_guarded(validate(**LONG), None, limits=lim, store=store, gate=gate)
    assert time.monotonic() - t0 < 10
    assert exp.status == "stopped" and not from_store
    assert any(n.startswith("Stopped at the 0.3 s limit of the hosted demo after epoch") for n in notes)
    assert store.list() == []


def test_a_diverging_run_is_a_result_and_is_stored(store, gate, calls):
    base = validate(optimizer="sgd", lr=10, depth=3, init="he", n_samples=100, epochs=5, width=32, seeds=2,
                    batch_size=32)
    exp, from_store, notes = run_guarded(base, None, limits=HOSTED, store=store, gate=gate)
    assert exp.status == "diverged" and not from_store
    assert any("seeds diverged" in n and "learning rate below 10" in n for n in notes)
    [row] = store.list()
    assert row["status"] == "diverged"
    again, from_store, _ = run_guarded(base, None, limits=HOSTED, store=store, gate=gate)
    assert from_store and again.status == "diverged" and len(calls) == 1


def test_budget_is_checked_before_any_training(store, gate, calls):
    lim = Limits(hosted=True, max_work=1000)
    with pytest.raises(BudgetError, match="the hosted demo allows 1000"):
        run_guarded(validate(**TINY), None, limits=lim, store=store, gate=gate)
    assert calls == [] and store.list() == [] and gate.stats() == (0, 0)


def test_a_stored_run_is_served_whatever_its_size(store, gate, calls):
    base = validate(**TINY)
    run_guarded(base, None, limits=Limits(), store=store, gate=gate)  # trained locally, no limits
    exp, from_store, _ = run_guarded(base, None, limits=Limits(hosted=True, max_work=1000), store=store, gate=gate)
    assert from_store and exp.status == "ok" and len(calls) == 1


def test_an_unreadable_stored_copy_is_trained_again(store, gate, calls):
    base = validate(**TINY)
    store.put(store_key([base]), {"not": "an experiment"}, {"title": "junk"})
    exp, from_store, notes = run_guarded(base, None, limits=HOSTED, store=store, gate=gate)
    assert not from_store and exp.status == "ok" and len(calls) == 1
    assert "could not be read" in notes[0]
    assert run_guarded(base, None, limits=HOSTED, store=store, gate=gate)[1]  # and stored properly now


def test_a_bad_variant_is_a_config_error_before_any_training(store, gate, calls):
    with pytest.raises(ConfigError, match="^dropout:"):
        run_guarded(validate(**TINY), {"x": {"dropout": 2.0}}, limits=HOSTED, store=store, gate=gate)
    assert calls == []


def _csv(path, shift=0.0):
    rng = np.random.default_rng(0)
    rows = ["x1,x2,label"] + [f"{a + shift:.4f},{b:.4f},{int(a > 0)}" for a, b in rng.normal(size=(60, 2))]
    path.write_text("\n".join(rows) + "\n")
    return str(path)


def test_csv_runs_are_keyed_by_content_not_path(tmp_path, store, gate, calls):
    a, b, c = _csv(tmp_path / "a.csv"), _csv(tmp_path / "b.csv"), _csv(tmp_path / "c.csv", shift=0.5)
    cfg = dict(dataset="csv", epochs=2, width=8, seeds=1, batch_size=16)
    assert store_key([validate(cfg, data_path=a)]) == store_key([validate(cfg, data_path=b)])
    assert store_key([validate(cfg, data_path=a)]) != store_key([validate(cfg, data_path=c)])
    _, from_store, _ = run_guarded(validate(cfg, data_path=a), None, limits=HOSTED, store=store, gate=gate)
    assert not from_store
    exp, from_store, _ = run_guarded(validate(cfg, data_path=b), None, limits=HOSTED, store=store, gate=gate)
    assert from_store and exp.status == "ok"  # the same upload under another temp name
    _, from_store, _ = run_guarded(validate(cfg, data_path=c), None, limits=HOSTED, store=store, gate=gate)
    assert not from_store and len(calls) == 2


def test_a_full_queue_is_refused(store, calls):
    g = TrainingGate(1, 0, poll=0.01)
    with g.slot():
        with pytest.raises(QueueFull):
            run_guarded(validate(**TINY), None, limits=HOSTED, store=store, gate=g)
    assert calls == [] and store.list() == []


def test_waiting_requests_see_their_place_and_can_leave(store, calls, monkeypatch):
    monkeypatch.setattr(hosting, "ORPHAN_GRACE_S", 60)  # cancelled() is final: no grace period
    g = TrainingGate(1, 5, poll=0.01)
    waits = []
    with g.slot():
        with pytest.raises(Cancelled):
            run_guarded(validate(**TINY), None, limits=HOSTED, store=store, gate=g,
                        on_wait=lambda p, w: waits.append((p, w)), cancelled=lambda: len(waits) >= 2)
        assert waits[0] == (1, 1)
        _wait_until(lambda: g.stats() == (1, 0), timeout=2, what="the abandoned run to leave the line")
    assert calls == [] and store.list() == []


def test_a_session_that_goes_away_frees_its_slot(store, gate, calls, monkeypatch):
    monkeypatch.setattr(hosting, "ORPHAN_GRACE_S", 0.05)

    def on_epoch(exp, vi, epoch):
        raise Rerun()  # Streamlit interrupts the script at its next page update

    with pytest.raises(Rerun):
        run_guarded(validate(**LONG), None, limits=HOSTED, store=store, gate=gate, on_epoch=on_epoch)
    _wait_until(lambda: gate.stats() == (0, 0), what="the orphaned run to stop")
    assert store.list() == []


def test_a_rerun_rejoins_the_run_it_left(store, gate, calls):
    base = validate(**LONG)
    with pytest.raises(Rerun):
        run_guarded(base, None, limits=HOSTED, store=store, gate=gate,
                    on_epoch=lambda e, vi, ep: (_ for _ in ()).throw(Rerun()))
    seen = []  # asked again within ORPHAN_GRACE_S: the same run, not a second one
    exp, _, notes = run_guarded(base, None, limits=HOSTED, store=store, gate=gate,
                                on_epoch=lambda e, vi, ep: seen.append(ep), user_stop=lambda: len(seen) >= 3)
    assert any("already being trained" in n for n in notes) and len(calls) == 1
    assert exp.status == "stopped" and store.list() == []


def test_stopping_while_others_watch_does_not_stop_their_run(store, gate, calls):
    base, out, b_stop = validate(**LONG), {}, threading.Event()
    b_epochs = []

    def b():
        out["b"] = run_guarded(base, None, limits=HOSTED, store=store, gate=gate,
                               on_epoch=lambda e, vi, ep: b_epochs.append(ep), user_stop=b_stop.is_set)

    watcher = threading.Thread(target=b)
    watcher.start()
    _wait_until(lambda: len(b_epochs) > 0, what="b's run to start")
    exp, from_store, notes = run_guarded(base, None, limits=HOSTED, store=store, gate=gate, user_stop=lambda: True)
    assert exp.status == "stopped" and not from_store and exp.runs[0].epochs_done > 0
    assert any("goes on for the 1 other session" in n for n in notes)
    a_done = exp.runs[0].epochs_done
    _wait_until(lambda: b_epochs[-1] > a_done + 5, what="b's run to go on")  # not stopped by a
    b_stop.set()
    watcher.join(30)
    b_exp, _, b_notes = out["b"]
    assert b_exp.status == "stopped" and b_exp.runs[0].epochs_done > a_done + 5
    assert len(calls) == 1 and store.list() == []
