"""Training: batched seeds equal single seeds, determinism, known facts, divergence, stopping."""
import time

import numpy as np
import pytest

from core.config import validate
from core.metrics import measure
from core.results import LAYER_METRICS, METRICS, SCALAR_METRICS
from core.train import run_experiment, train

SMALL = dict(n_samples=200, epochs=3, width=16, batch_size=32)


def _assert_seed_equal(single, batched, i, atol):
    for m in METRICS:
        if m == "seconds":
            continue
        a, b = single.metrics[m][0], batched.metrics[m][i]
        np.testing.assert_allclose(a, b, atol=atol, rtol=0, equal_nan=True, err_msg=m)


@pytest.mark.parametrize("extra", [
    dict(dropout=0.5),
    dict(dropout=0.3, batchnorm=True, optimizer="momentum", lr=0.05, weight_decay=0.01, init="he"),
    dict(activation="tanh", optimizer="sgd", lr=0.1, batch_size=0, init="xavier"),
    dict(dataset="digits", model="cnn", width=4, dropout=0.2, n_samples=150),
])
def test_seed_alone_equals_seed_side_by_side(extra):
    cfg = validate({**SMALL, **extra, "seeds": 3, "seed": 5})
    batched = train(cfg)
    for i in range(3):
        single = train(cfg.replace(seeds=1, seed=5 + i))
        # identical at epoch 0, equal within 1e-4 after 3 epochs
        for m in METRICS:
            if m != "seconds":
                np.testing.assert_array_equal(single.metrics[m][0, 0], batched.metrics[m][i, 0], err_msg=m)
        _assert_seed_equal(single, batched, i, atol=1e-4)


def test_deterministic_run_after_run():
    cfg = validate(**SMALL, dropout=0.5, seeds=2)
    a, b = train(cfg), train(cfg)
    for m in METRICS:
        if m != "seconds":
            np.testing.assert_array_equal(a.metrics[m], b.metrics[m], err_msg=m)


def test_history_has_every_metric_from_epoch_0():
    cfg = validate(**SMALL, seeds=2, depth=3)
    r = train(cfg)
    assert r.status == "ok" and r.epochs_done == 4
    recs = r.records()
    assert len(recs) == 2 * 4
    assert {rec["seed"] for rec in recs} == {0, 1} and {rec["epoch"] for rec in recs} == {0, 1, 2, 3}
    for rec in recs:
        for m in SCALAR_METRICS:
            assert isinstance(rec[m], float)
        for m in LAYER_METRICS:
            assert len(rec[m]) == 3
    assert recs[0]["mask_flip"] == [None, None, None] and recs[1]["mask_flip"][0] is not None


def test_epochs_zero_only_measures_initialization():
    r = train(validate(**{**SMALL, "epochs": 0}, seeds=2))
    assert r.epochs_done == 1 and r.status == "ok"
    assert np.isfinite(r.metrics["val_acc"][:, 0]).all()


def test_linear_network_cannot_fit_moons_but_relu_can():
    base = validate(dataset="moons", n_samples=600, noise=0.1, depth=3, width=32, epochs=60, seeds=2,
                    batch_size=64, lr=0.01)
    exp = run_experiment(base, {"linear": {"activation": "linear"}, "relu": {"activation": "relu"}})
    lin, relu = exp.run("linear").final("val_acc"), exp.run("relu").final("val_acc")
    assert lin.max() < 0.92       # a linear boundary misclassifies the moons' tips
    assert relu.min() > 0.97


def test_relu_mask_is_the_same_twice_dropout_is_not():
    r = train(validate(**SMALL, seeds=2))
    d = train(validate(**SMALL, seeds=2, dropout=0.5))
    assert np.all(r.metrics["mask_agreement"] == 1.0)
    assert np.all(d.metrics["mask_agreement"] < 0.95)
    ra, da = r.artifacts["raster"], d.artifacts["raster"]  # (S, L, 3 passes, inputs, units)
    assert np.array_equal(ra[:, :, 0], ra[:, :, 1])
    assert not np.array_equal(da[:, :, 0], da[:, :, 1])


def test_dropout_shrinks_the_gap_on_tiny_data():
    base = validate(dataset="moons", n_samples=100, noise=0.35, val_fraction=0.5, width=256, epochs=200,
                    batch_size=0, seeds=3)
    exp = run_experiment(base, {"plain": {}, "dropout": {"dropout": 0.5}})
    assert exp.run("dropout").final("gap_loss").mean() < exp.run("plain").final("gap_loss").mean()


def test_a_diverging_seed_stops_and_the_others_go_on():
    cfg = validate(dataset="moons", n_samples=200, depth=3, width=32, optimizer="sgd", lr=2.0, epochs=10,
                   seeds=4, init="he", batch_size=16)
    r = train(cfg)
    assert r.status == "diverged"
    assert r.diverged_at[0] is None and all(e is not None for e in r.diverged_at[1:])
    for i, e in enumerate(r.diverged_at):
        if e is not None:
            assert np.isnan(r.metrics["train_loss"][i, e:]).all()
            assert np.isfinite(r.metrics["train_loss"][i, :e]).all()
    assert any("learning rate" in m for m in r.messages)
    alone = train(cfg.replace(seeds=1))
    np.testing.assert_allclose(alone.metrics["train_loss"][0], r.metrics["train_loss"][0], atol=1e-4)
    assert all(np.isfinite(v).all() for rec in r.records() for v in [rec["train_loss"]])


def test_should_stop_keeps_what_was_measured():
    calls = []

    def on_epoch(res, epoch):
        calls.append(epoch)

    r = train(validate(**{**SMALL, "epochs": 50}), on_epoch=on_epoch, should_stop=lambda: len(calls) >= 5)
    assert r.status == "stopped"
    # Stops soon after the request: the epochs already trained but still being measured (up to
    # two passes of MAX_SNAPSHOTS snapshots) are kept, and every epoch measured was reported, in order.
    import core.train as T
    assert 5 <= r.epochs_done <= 5 + 2 * T.MAX_SNAPSHOTS + 1 and calls == list(range(r.epochs_done))
    done = r.epochs_done
    assert np.isfinite(r.metrics["val_acc"][:, :done]).all() and np.isnan(r.metrics["val_acc"][:, done:]).all()


DIVERGING = dict(dataset="moons", n_samples=200, depth=3, width=32, optimizer="sgd", epochs=10, seeds=4,
                 init="he", batch_size=16, dropout=0.1)


@pytest.mark.parametrize("settings, diverging", [
    (dict(DIVERGING, lr=1.2), "some"),   # seeds diverge at different epochs, two survive
    (dict(DIVERGING, lr=10.0), "all"),   # every seed diverges: the run stops where serial stops
    ({**SMALL, "epochs": 10, "seeds": 3, "dropout": 0.3, "batchnorm": True, "optimizer": "momentum", "lr": 0.05}, "none"),
    ({**SMALL, "epochs": 10, "seeds": 3, "dropout": 0.3, "activation": "tanh"}, "none"),
    (dict(dataset="digits", model="cnn", width=8, n_samples=400, epochs=7, batch_size=32, seeds=3,
          dropout=0.2), "none"),
])
def test_measuring_beside_training_changes_no_number(monkeypatch, settings, diverging):
    # Measuring in a second thread stacks several epochs' weights into one pass (3 here; CNNs 1
    # by policy); every figure, mask_flip across pass boundaries, divergence, the run's length
    # and the measurement stream's dropout draws must equal measuring each epoch in turn.
    # 10 epochs + epoch 0 leave a partial last pass.
    import core.train as T
    cfg = validate(settings)
    monkeypatch.setattr(T, "OVERLAP_MEASURING", False)
    plain = train(cfg)
    monkeypatch.setattr(T, "OVERLAP_MEASURING", True)
    monkeypatch.setattr(T, "overlap_measuring", lambda threads: True)
    monkeypatch.setattr(T, "MEASURE_STACK_ELEMENTS", 2**40)
    monkeypatch.setattr(T, "MAX_SNAPSHOTS", 3)
    monkeypatch.setattr(T, "SNAPSHOT_WAIT_S", 1e9)  # full passes only, whatever the machine's speed
    stacked = train(cfg)
    died = [e is not None for e in plain.diverged_at]
    assert {"some": any(died) and not all(died), "all": all(died), "none": not any(died)}[diverging]
    assert (stacked.status, stacked.epochs_done) == (plain.status, plain.epochs_done)
    assert stacked.diverged_at == plain.diverged_at and stacked.messages == plain.messages
    for m in METRICS:
        if m != "seconds":
            np.testing.assert_array_equal(plain.metrics[m], stacked.metrics[m], err_msg=m)


def test_an_epoch_is_reported_by_the_time_the_next_one_is_trained(monkeypatch):
    # Measuring beside training reports epoch e at the latest when epoch e+1 has been trained
    # (serially it comes before); epochs are slowed to 0.1 s so the measuring always has time.
    import core.models as M
    import core.train as T
    monkeypatch.setattr(T, "overlap_measuring", lambda threads: True)
    started, seen = [], []
    perms = M.SeedStreams.permutations

    def slow(self, n):
        started.append(len(started) + 1)
        time.sleep(0.1)
        return perms(self, n)

    monkeypatch.setattr(M.SeedStreams, "permutations", slow)
    train(validate(**{**SMALL, "epochs": 5}), on_epoch=lambda r, e: seen.append((e, len(started))))
    assert [e for e, _ in seen] == list(range(6))
    assert all(n <= e + 1 for e, n in seen), seen  # never two epochs behind


@pytest.mark.parametrize("wait, passes", [(1e9, [1, 3, 3, 3, 1]), (0.0, [1] * 11)])
def test_measuring_passes_take_epoch_0_at_once_and_never_wait_long(monkeypatch, wait, passes):
    # Epoch 0 is measured alone, so the first point shows at once; later snapshots wait for a
    # full pass of K unless waiting would take longer than SNAPSHOT_WAIT_S; the rest goes at the end.
    import core.train as T
    seen = []

    def spy(*args, snapshots=1):
        seen.append(snapshots)
        return measure(*args, snapshots=snapshots)

    monkeypatch.setattr(T, "measure", spy)
    monkeypatch.setattr(T, "overlap_measuring", lambda threads: True)
    monkeypatch.setattr(T, "snapshots_per_pass", lambda *a: 3)
    monkeypatch.setattr(T, "SNAPSHOT_WAIT_S", wait)
    r = train(validate(**{**SMALL, "epochs": 10}))
    assert seen == passes and r.epochs_done == 11


def test_experiment_variants_share_data_and_seeds():
    base = validate(**SMALL, seeds=2)
    exp = run_experiment(base, {"A": {}, "B": {"dropout": 0.5}})
    a, b = exp.run("A"), exp.run("B")
    # Same data, same initial weights: epoch-0 eval metrics are identical (dropout is off in eval).
    np.testing.assert_array_equal(a.metrics["val_loss"][:, 0], b.metrics["val_loss"][:, 0])
    assert exp.status == "ok" and [r.config.dropout for r in exp.runs] == [0.0, 0.5]
    doc = exp.export()
    assert {v["name"] for v in doc["variants"]} == {"A", "B"} and len(doc["history"]) == 2 * 2 * 4


def test_experiment_round_trips_through_dict():
    from core.results import Experiment
    exp = run_experiment(validate(**SMALL, seeds=2))
    back = Experiment.from_dict(exp.to_dict())
    np.testing.assert_array_equal(back.runs[0].metrics["dead"], exp.runs[0].metrics["dead"])
    assert np.array_equal(back.runs[0].artifacts["raster"], exp.runs[0].artifacts["raster"])
    assert back.export() == exp.export()


def test_measuring_never_changes_training():
    # Measurement draws from its own random stream: skipping it leaves the final networks identical.
    cfg = validate(**SMALL, seeds=2, dropout=0.5)
    a, b = train(cfg), train(cfg, measure_every_epoch=False)
    # (mask_agreement itself is a random draw of the measurement stream, so it is not compared.)
    for m in ("train_loss", "val_loss", "train_acc", "dead", "zero_frac"):
        np.testing.assert_array_equal(a.metrics[m][:, -1], b.metrics[m][:, -1], err_msg=m)
    assert np.isnan(b.metrics["val_loss"][:, 1]).all()


def test_overlapped_run_restores_the_interpreter_switch_interval(monkeypatch):
    import sys

    import core.train as T

    monkeypatch.setattr(T, "overlap_measuring", lambda threads: True)
    before = sys.getswitchinterval()
    seen = []
    T.train(validate(n_samples=100, epochs=2, seeds=1, batch_size=20),
            on_epoch=lambda r, e: seen.append(sys.getswitchinterval()))
    assert seen and max(seen) <= T.SWITCH_INTERVAL_S + 1e-9  # short while two threads share the lock
    assert sys.getswitchinterval() == before


def test_the_measuring_thread_uses_the_threads_the_run_chose():
    # OpenMP's thread count is per thread: a fresh thread would run a large matmul on every core,
    # the training thread's included. Ask torch's own OpenMP runtime, in the pool's thread.
    import ctypes
    import os
    from concurrent.futures import ThreadPoolExecutor

    import torch

    import core.train as T
    torch_lib = os.path.join(os.path.dirname(torch.__file__), "lib")
    with open("/proc/self/maps") as fh:  # torch's own runtime, not another library's OpenMP
        libs = sorted({w for w in fh.read().split() if w.startswith(torch_lib) and "omp" in os.path.basename(w)})
    if not libs:
        pytest.skip("torch's OpenMP runtime is not a separate library here")
    omp = ctypes.CDLL(libs[0])
    with T.measuring_pool(1) as pool:
        assert pool.submit(omp.omp_get_max_threads).result() == 1
    if len(os.sched_getaffinity(0)) >= 2 and "OMP_NUM_THREADS" not in os.environ:
        with ThreadPoolExecutor(1) as plain:  # the check can fail: a plain thread would use every core
            assert plain.submit(omp.omp_get_max_threads).result() >= 2
