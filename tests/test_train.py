"""Training: batched seeds equal single seeds, variants as slices equal variants alone, determinism,
known facts, divergence, stopping. (Measuring beside training: test_recorder.py; the final pictures:
test_artifacts.py; which variants group: test_groups.py.)"""
import numpy as np
import pytest

from core.config import validate
from core.groups import group_variants
from core.presets import PRESETS
from core.recorder import MeasurePolicy
from core.results import LAYER_METRICS, METRICS, SCALAR_METRICS
from core.train import batch_bounds, run_experiment, train, train_group

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


def _differences(cfg):
    """(seeds, epochs + 1): per seed and epoch, the largest difference of any figure between that
    seed trained alone and beside the others (0 where both are NaN)."""
    batched = train(cfg)
    out = np.zeros((cfg.seeds, cfg.epochs + 1))
    for i in range(cfg.seeds):
        single = train(cfg.replace(seeds=1, seed=cfg.seed + i))
        for m in METRICS:
            if m != "seconds":
                a, b = single.metrics[m][0], batched.metrics[m][i]
                assert np.array_equal(np.isnan(a), np.isnan(b)), m
                d = np.nan_to_num(np.abs(a - b)).reshape(cfg.epochs + 1, -1).max(1)
                out[i] = np.maximum(out[i], d)
    return out


PRESET_VARIANTS = [(p.name, v) for p in PRESETS.values() for v in p.variant_configs()]


@pytest.mark.parametrize("preset, variant", PRESET_VARIANTS)
def test_each_preset_gives_seed_i_the_same_numbers_alone_or_beside_others(preset, variant):
    # The README's promise, at the presets' own settings and learning rates (3 seeds, 3 epochs,
    # at most 600 examples to keep it quick): identical at epoch 0, within 1e-4 after 3 epochs.
    cfg = PRESETS[preset].variant_configs()[variant]
    cfg = cfg.replace(epochs=3, seeds=3, n_samples=min(cfg.n_samples or 600, 600))
    d = _differences(cfg)
    assert (d[:, 0] == 0).all()
    assert d.max() <= 1e-4, d


def test_at_a_chaotic_learning_rate_last_bit_differences_are_real_and_grow_from_a_tiny_start():
    # digits at Adam lr 0.05, width 256: seed i alone and beside others round differently in
    # their last bits (the batched matmul of 3 seeds is not the one of 1), and training at this
    # learning rate amplifies such differences about tenfold an epoch, as it does between plain
    # PyTorch's foreach and fused Adam. Measured on the 2-core VM (max over 3 seeds and every
    # figure): 0 at epoch 0, 8e-7, 5e-6, 4e-4 at epochs 1-3, then 1e-2 and whole units by epoch 5.
    # The bounds below leave 10-25x room; the other tests keep 1e-4 at the presets' rates.
    cfg = validate(dataset="digits", scaling="feature", lr=0.05, width=256, epochs=3, seeds=3)
    d = _differences(cfg).max(0)
    assert d[0] == 0                       # identical at initialization
    assert d[1:].max() > 0                 # real: not the same bits
    assert d[1] <= 1e-5 and d[2] <= 1e-4 and d[3] <= 1e-2, d  # bounded, growing from the last bit
    assert d[3] > d[1]


@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_a_dead_first_layer_unit_stays_dead_under_plain_sgd_deeper_ones_come_back(weight_decay):
    # A first-layer ReLU unit dead on every training input gets no gradient, and its inputs never
    # change: plain SGD never moves it again (weight decay only shrinks its weights, z stays <= 0).
    # A deeper unit's inputs change as the layers before it learn, so it can come back.
    r = train(validate(dataset="digits", scaling="global", optimizer="sgd", lr=2.0, weight_decay=weight_decay,
                       width=64, epochs=8, seeds=2, n_samples=600))
    assert r.metrics["dead"][:, 1:, 0].min() > 0             # first-layer units died...
    assert np.nansum(r.metrics["revived"][:, :, 0]) == 0      # ...for good
    assert np.nansum(r.metrics["revived"][:, :, 1]) > 0       # deeper units came back


def test_adam_can_bring_a_dead_first_layer_unit_back():
    # Adam keeps stepping on what it remembers after a unit's gradient stops: here a first-layer
    # unit dead at epoch 1 is alive at epoch 2.
    r = train(validate(dataset="moons", width=16, depth=3, lr=0.1, n_samples=200, epochs=8, seeds=2, batch_size=16))
    assert np.nansum(r.metrics["revived"][:, :, 0]) > 0


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
    # two passes of max_snapshots snapshots) are kept, and every epoch measured was reported, in order.
    assert 5 <= r.epochs_done <= 5 + 2 * MeasurePolicy().max_snapshots + 1 and calls == list(range(r.epochs_done))
    done = r.epochs_done
    assert np.isfinite(r.metrics["val_acc"][:, :done]).all() and np.isnan(r.metrics["val_acc"][:, done:]).all()


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
    a, b = train(cfg), train(cfg, measure=MeasurePolicy(every_epoch=False))
    # (mask_agreement itself is a random draw of the measurement stream, so it is not compared.)
    for m in ("train_loss", "val_loss", "train_acc", "dead", "zero_frac"):
        np.testing.assert_array_equal(a.metrics[m][:, -1], b.metrics[m][:, -1], err_msg=m)
    assert np.isnan(b.metrics["val_loss"][:, 1]).all()


@pytest.mark.parametrize("n, batch_size, sizes", [
    (10, 4, [4, 4, 2]), (12, 4, [4, 4, 4]), (10, 0, [10]), (10, 32, [10]), (1, 1, [1]),
])
def test_batches_cover_the_epoch_in_order(n, batch_size, sizes):
    bounds = batch_bounds(n, batch_size)
    assert [hi - lo for lo, hi in bounds] == sizes
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:], strict=False))  # no gap, no overlap


def test_a_stop_press_mid_epoch_is_honoured_within_stop_check_steps(monkeypatch):
    # 700 training examples in batches of 1: 700 steps an epoch. Stop is true from the first
    # question after a step on (start-up asks too, before any step): the run ends after
    # STOP_CHECK_STEPS steps, inside epoch 1, which is not measured.
    import core.train as T

    steps, asked = [], []
    step = T._step
    monkeypatch.setattr(T, "_step", lambda *a: steps.append(1) or step(*a))
    r = train(validate(n_samples=1000, epochs=3, seeds=1, width=4, batch_size=1),
              should_stop=lambda: asked.append(len(steps)) or len(steps) > 0)
    assert r.status == "stopped" and r.epochs_done == 1
    during = [a for a in asked if a > 0]
    assert set(asked[:-1]) == {0} and during == [T.STOP_CHECK_STEPS] and len(steps) == T.STOP_CHECK_STEPS < 700


# --- variants as slices of one network (core.groups) ---------------------------------------------

def _assert_same_run(alone, grouped):
    """Every metric of every seed and epoch, divergence and messages: bit for bit."""
    assert (grouped.epochs_done, grouped.status, grouped.diverged_at, grouped.messages) == \
        (alone.epochs_done, alone.status, alone.diverged_at, alone.messages)
    for m in METRICS:
        if m != "seconds":
            np.testing.assert_array_equal(grouped.metrics[m], alone.metrics[m], err_msg=m)


def _assert_same_pictures(a, b):
    assert a.keys() == b.keys()
    for k in a:
        if isinstance(a[k], dict):
            _assert_same_pictures(a[k], b[k])
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("base, variants", [
    ({}, [{"activation": a} for a in ("relu", "tanh", "linear", "gelu", "leaky_relu", "elu", "silu", "sigmoid")]),
    ({}, [{"dropout": 0.0}, {"dropout": 0.5}, {"dropout": 0.2}]),
    ({}, [{"weight_decay": 0.0}, {"weight_decay": 0.01}]),
    ({}, [{"lr": 0.01}, {"lr": 0.05}]),
    ({}, [{"init": "default"}, {"init": "he"}, {"init": "xavier"}]),
    ({}, [{"optimizer": "adam"}, {"optimizer": "sgd", "lr": 0.1}, {"optimizer": "momentum", "lr": 0.05}]),
    ({}, [{"seeds": 1, "seed": 3}, {"seeds": 3}, {"seed": 1}]),
    ({}, [{"activation": "relu", "dropout": 0.5}, {"activation": "linear", "dropout": 0.5}, {"activation": "relu"},
          {"activation": "linear"}]),
    ({"width": 13, "batch_size": 7}, [{"activation": "gelu"}, {"activation": "tanh", "dropout": 0.3}, {"lr": 0.03}]),
    ({"batchnorm": True, "dropout": 0.3}, [{"lr": 0.02}, {"dropout": 0.5, "weight_decay": 0.01}, {"init": "he"}]),
    ({"dataset": "digits", "model": "cnn", "width": 4, "n_samples": 150},
     [{"dropout": 0.2}, {"activation": "tanh"}, {"activation": "relu", "lr": 0.02}]),
])
def test_a_variant_as_a_slice_gives_the_numbers_it_gives_alone(base, variants):
    # The issue asks: identical at epoch 0, within 1e-4 after 3 epochs. The slices give more:
    # every figure of every epoch and the pictures, bit for bit (on one thread, as here).
    cfg = validate({**SMALL, "seeds": 2, **base})
    named = {str(i): v for i, v in enumerate(variants)}
    (group,) = group_variants(cfg, named)
    assert len(group.configs) == len(variants)  # really trained as one network
    exp = run_experiment(cfg, named)
    for run, v in zip(exp.runs, variants, strict=True):
        alone = train(cfg.replace(**v))
        for m in METRICS:
            if m != "seconds":
                np.testing.assert_array_equal(run.metrics[m][:, 0], alone.metrics[m][:, 0], err_msg=m)
        _assert_seed_equal(alone, run, 0, atol=1e-4)
        _assert_same_run(alone, run)
        _assert_same_pictures(alone.artifacts, run.artifacts)


def test_a_diverging_variant_in_a_group_diverges_as_alone_and_the_others_go_on():
    cfg = validate(dataset="moons", n_samples=200, depth=3, width=32, optimizer="sgd", epochs=10, seeds=4, init="he",
                   batch_size=16)
    variants = {"lr 2": {"lr": 2.0}, "lr 0.05": {"lr": 0.05}, "lr 10": {"lr": 10.0, "seeds": 2, "seed": 1}}
    exp = run_experiment(cfg, variants)
    assert [r.status for r in exp.runs] == ["diverged", "ok", "diverged"]
    assert all(e is not None for e in exp.run("lr 10").diverged_at)  # all of it: its curves end there
    for run, v in zip(exp.runs, variants.values(), strict=True):
        _assert_same_run(train(cfg.replace(**v)), run)


def test_sequential_training_gives_the_same_experiment():
    cfg = validate(**SMALL, seeds=2)
    variants = {"a": {"dropout": 0.5}, "b": {"activation": "linear"}, "c": {"width": 8}}
    grouped, one_by_one = run_experiment(cfg, variants), run_experiment(cfg, variants, sequential=True)
    assert len(group_variants(cfg, variants)) == 2
    for a, b in zip(grouped.runs, one_by_one.runs, strict=True):
        assert a.name == b.name
        _assert_same_run(b, a)


def test_train_group_refuses_variants_of_different_shapes():
    cfg = validate(**SMALL)
    with pytest.raises(ValueError, match="shapes or data"):
        train_group([cfg, cfg.replace(width=8)])


def test_all_variants_of_a_group_advance_together():
    cfg = validate(**{**SMALL, "epochs": 6}, seeds=2)
    variants = {"ReLU": {}, "dropout": {"dropout": 0.5}, "linear": {"activation": "linear"}}
    calls = []
    run_experiment(cfg, variants, on_epoch=lambda exp, vi, epoch: calls.append((epoch, vi, exp.runs[vi].epochs_done)))
    # each epoch reaches every variant before the next epoch reaches any, and each sees it done
    assert [e for e, _, _ in calls] == [e for e in range(7) for _ in variants]
    assert all({v for e, v, _ in calls[3 * k: 3 * k + 3]} == {0, 1, 2} for k in range(7))
    assert all(done == e + 1 for e, _, done in calls)


# A group's start-up asks should_stop three times before any step (before the data, after it and
# after the network: test_a_stop_before_or_during_start_up_measures_nothing), then training asks.
START_ASKS = 3


def _stop_after(n):
    asked = []

    def should_stop():
        asked.append(1)
        return len(asked) >= n
    return should_stop


def test_stop_keeps_every_variants_epochs_and_pictures_of_the_last_measured_epoch(monkeypatch):
    # 140 training points in batches of 1: 140 steps an epoch, so Stop is asked inside epochs
    # (after 32, 64, 96 and 128 steps) and at their ends. The 6th question comes 32 steps into
    # epoch 2: the run stops there, with epochs 0 and 1 measured for every variant, and pictures
    # of the networks as they were after epoch 1, not of the part of epoch 2 trained since.
    import core.train as T

    monkeypatch.setattr(T, "STOP_CHECK_S", float("inf"))  # questions by step count only, however slow the machine
    cfg = validate(**{**SMALL, "epochs": 5, "batch_size": 1}, seeds=2)
    variants = {"ReLU": {}, "ReLU + dropout": {"dropout": 0.5}, "linear": {"activation": "linear"}}
    exp = run_experiment(cfg, variants, should_stop=_stop_after(START_ASKS + 6))
    assert [r.status for r in exp.runs] == ["stopped"] * 3 and [r.epochs_done for r in exp.runs] == [2, 2, 2]
    one_epoch = run_experiment(cfg.replace(epochs=1), variants)
    for stopped, done in zip(exp.runs, one_epoch.runs, strict=True):
        for m in METRICS:
            if m != "seconds":
                np.testing.assert_array_equal(stopped.metrics[m][:, :2], done.metrics[m], err_msg=m)
        _assert_same_pictures(done.artifacts, stopped.artifacts)


def test_groups_trained_apart_in_any_order_merge_into_the_same_experiment():
    # The seam for other backends: each group (core.groups) trained on its own with train_group,
    # in any order, its results put back by Group.indices, gives run_experiment's numbers.
    cfg = validate(**SMALL, seeds=2)
    variants = {"a": {"dropout": 0.5}, "wide": {"width": 24}, "b": {"activation": "tanh"}, "c": {"lr": 0.05}}
    whole = run_experiment(cfg, variants)
    groups = group_variants(cfg, variants)
    assert [g.indices for g in groups] == [(0, 3, 2), (1,)]  # slices in canonical order: relu ones first
    merged: dict[int, object] = {}
    for g in reversed(groups):
        for i, res in zip(g.indices, train_group(g.configs), strict=True):
            merged[i] = res
    for i, run in enumerate(whole.runs):
        _assert_same_run(run, merged[i])
        _assert_same_pictures(run.artifacts, merged[i].artifacts)


def test_stop_between_groups_marks_the_later_ones_stopped_untrained():
    cfg = validate(**{**SMALL, "epochs": 20}, seeds=2)
    exp = run_experiment(cfg, {"a": {}, "b": {"dropout": 0.5}, "wide": {"width": 32}},
                         should_stop=_stop_after(START_ASKS + 3))
    a, b, wide = exp.runs
    assert a.status == b.status == wide.status == "stopped"
    assert a.epochs_done == b.epochs_done >= 3 and a.artifacts and b.artifacts
    assert wide.epochs_done == 0 and not wide.artifacts


def test_seconds_of_a_group_are_shared_so_the_experiment_adds_up_to_its_time():
    import time
    cfg = validate(**SMALL, seeds=2)
    t = time.perf_counter()
    exp = run_experiment(cfg, {"a": {}, "b": {"seeds": 1}, "c": {"dropout": 0.5}})
    wall = time.perf_counter() - t
    a, b, c = exp.runs
    assert 0 < exp.seconds <= wall
    assert a.seconds == pytest.approx(2 * b.seconds) and a.seconds == pytest.approx(c.seconds)


def test_a_slow_step_is_followed_by_a_stop_check(monkeypatch):
    # Once STOP_CHECK_S has passed since the last check, the next step ends with one, however
    # few steps ago it was: a time limit holds when a single step takes seconds (a wide CNN).
    # STOP_CHECK_S = 0 makes every step slow enough: the run asks after each and stops at the 5th
    # (after the three questions of start-up, before any step).
    import core.train as T

    steps, asked = [], []
    step = T._step
    monkeypatch.setattr(T, "_step", lambda *a: steps.append(1) or step(*a))
    monkeypatch.setattr(T, "STOP_CHECK_S", 0.0)
    r = train(validate(n_samples=1000, epochs=3, seeds=1, width=4, batch_size=1),
              should_stop=lambda: asked.append(len(steps)) or len(asked) == START_ASKS + 5)
    assert r.status == "stopped" and r.epochs_done == 1
    assert asked == [0] * START_ASKS + [1, 2, 3, 4, 5] and len(steps) == 5


def test_a_stop_before_or_during_start_up_measures_nothing():
    """Start-up (data, networks) asks should_stop between its steps: a run stopped there has no
    epochs at all, not even epoch 0 (whose measurement of every example can be long)."""
    for answers in ([True], [False, True], [False, False, True]):
        asked = iter(answers)
        res = train(validate(n_samples=100, epochs=5, seeds=2), should_stop=lambda asked=asked: next(asked, True))
        assert res.status == "stopped" and res.epochs_done == 0 and res.artifacts == {}
