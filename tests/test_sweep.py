"""core.sweep: grids checked by the schema, the cartesian product, each point's numbers equal to
its settings trained alone, the tidy and summary tables (against numpy/scipy on the tidy table),
the store round trip, and the hosted budget of a whole sweep."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from core.config import FIELD, ConfigError, validate
from core.results import LAYER_METRICS, SCALAR_METRICS
from core.sweep import (
    GRID_DEFAULTS,
    MAIN_METRICS,
    MAX_POINTS,
    SWEEP_PRESETS,
    SWEEPABLE,
    Sweep,
    check_sweep,
    parse_grid,
    point_name,
    run_sweep,
    sweep_work,
)

TINY = dict(dataset="moons", n_samples=100, epochs=3, seeds=3, width=8, depth=2, batch_size=32)


@pytest.fixture(scope="module")
def small():
    """dropout × activation, 2 × 2 points, 3 seeds, 3 epochs: trained once for the module."""
    sweep = Sweep(validate(**TINY), (("dropout", (0.0, 0.5)), ("activation", ("relu", "linear"))))
    return run_sweep(sweep)


# -- grids ---------------------------------------------------------------------------------


def test_parse_grid_reads_values_through_the_schema_in_order():
    g = parse_grid(["dropout=0, 0.25,0.5", "activation=relu,linear", "batchnorm=true,false", "width=8,16"])
    assert g == {"dropout": (0.0, 0.25, 0.5), "activation": ("relu", "linear"), "batchnorm": (True, False),
                 "width": (8, 16)}
    assert type(g["width"][0]) is int and type(g["dropout"][0]) is float
    assert parse_grid(["lr"]) == {"lr": GRID_DEFAULTS["lr"]}  # a bare field takes the defaults
    assert parse_grid(["weight-decay=0,1e-3"]) == {"weight_decay": (0.0, 1e-3)}


@pytest.mark.parametrize("items, field, value", [
    (["dropoutt=0,1"], "grid", "dropoutt"),        # not a setting
    (["seeds=1,2"], "grid", "seeds"),               # a point's replicates, not an axis
    (["data_path=a.csv"], "grid", "data_path"),     # a file, not a setting to compare along
    (["dropout=0,1.5"], "dropout", "1.5"),          # out of range
    (["lr=0.1,abc"], "lr", "abc"),                  # not a number
    (["lr=1_0"], "lr", "1_0"),                      # the strict number parser
    (["activation=relu,swish"], "activation", "swish"),
    (["dropout=0.1,0.10"], "dropout", "0.10"),      # the same value twice
    (["dropout=0.1,"], "dropout", "0.1,"),          # an empty value
    (["dropout=0", "dropout=0.5"], "grid", "dropout=0.5"),  # one field twice
    (["nonsense"], "grid", "nonsense"),
])
def test_parse_grid_errors_name_field_and_value(items, field, value):
    with pytest.raises(ConfigError) as e:
        parse_grid(items)
    assert e.value.field == field and str(e.value.value).endswith(value.split("=")[-1]), str(e.value)
    assert "\n" not in str(e.value)


def test_too_many_points_are_refused_before_anything():
    side = math.ceil(MAX_POINTS ** 0.5) + 1
    with pytest.raises(ConfigError) as e:
        parse_grid([f"width={','.join(str(i) for i in range(1, side + 1))}",
                    f"epochs={','.join(str(i) for i in range(side))}"])
    assert e.value.field == "grid" and f"at most {MAX_POINTS} points" in str(e.value)


def test_sweepable_fields_and_their_default_grids_are_valid():
    assert set(SWEEPABLE) <= set(FIELD) and not {"seeds", "seed", "data_path"} & set(SWEEPABLE)
    assert set(GRID_DEFAULTS) == set(SWEEPABLE)
    for name, values in GRID_DEFAULTS.items():
        assert tuple(FIELD[name].parse(v) for v in values) == values, name
        assert len(set(values)) == len(values) >= 2
    assert GRID_DEFAULTS["dropout"] == (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
    assert {"relu", "linear"} <= set(GRID_DEFAULTS["activation"])
    w = GRID_DEFAULTS["width"]
    assert all(x & (x - 1) == 0 for x in w)  # powers of two
    lr = np.log10(GRID_DEFAULTS["lr"])
    assert np.all(np.diff(lr) > 0) and np.ptp(lr) >= 3  # a log grid over decades


# -- the product -----------------------------------------------------------------------------


def test_points_are_the_cartesian_product_first_grid_slowest():
    s = Sweep(validate(seeds=4), {"dropout": (0.0, 0.5), "activation": ("relu", "tanh", "linear")})
    assert s.points() == [{"dropout": d, "activation": a} for d in (0.0, 0.5) for a in ("relu", "tanh", "linear")]
    assert s.networks == 6 * 4
    v = s.variants()
    assert list(v) == [point_name(p) for p in s.points()] and len(set(v)) == 6
    assert list(v)[1] == "dropout 0, activation tanh"
    assert [c.to_dict() for c in s.configs()] == [s.base.replace(**p).to_dict() for p in s.points()]
    assert hash(s) == hash(Sweep(validate(seeds=4), s.grid))  # frozen, hashable, equal by value


def test_point_names_read_back_as_their_values_and_fit_the_variant_alphabet():
    from core.config import variant_name

    for v in (0.1, 1e-5, 3e-4, 0.123456789, 0.0):
        text = point_name({"lr": v}).split(" ", 1)[1]
        assert float(text) == v
    assert variant_name(point_name({"dropout": 0.3, "activation": "leaky_relu"})) == "dropout 0.3, activation leaky_relu"


def test_a_point_that_breaks_a_rule_between_fields_is_named():
    with pytest.raises(ConfigError) as e:
        Sweep(validate(dataset="moons"), {"model": ("mlp", "cnn")})
    assert e.value.field == "model" and "model cnn" in str(e.value)


def test_keys_are_stable_and_marked_as_sweeps():
    from core.store import store_key

    a = Sweep(validate(**TINY), {"dropout": (0.0, 0.5)})
    assert a.key() == Sweep(validate(**TINY), (("dropout", (0, 0.5)),)).key()
    assert a.key() != store_key(a.configs())            # never an experiment's key
    assert a.key() != Sweep(validate(**TINY), {"dropout": (0.0, 0.4)}).key()
    assert a.key() != Sweep(validate(**{**TINY, "seeds": 2}), {"dropout": (0.0, 0.5)}).key()
    assert a.key() == Sweep(validate(**TINY), {"dropout": (0.0, 0.5)}, title="another title").key()


def test_groups_cover_every_point_once_with_stable_keys():
    s = Sweep(validate(**TINY), {"width": (8, 16), "dropout": (0.0, 0.5)})
    groups = s.groups()
    assert sorted(i for g in groups for i in g.indices) == list(range(4))
    configs = s.configs()
    for g in groups:
        assert [c.to_dict() for c in g.configs] == [configs[i].to_dict() for i in g.indices]
        assert len({c.width for c in g.configs}) == 1  # a width changes shapes: never one group
    assert [g.key for g in groups] == [g.key for g in Sweep(validate(**TINY), s.grid).groups()]
    assert len({g.key for g in groups}) == len(groups)


# -- numbers ---------------------------------------------------------------------------------


def _same(a, b, exact: bool):
    for m in SCALAR_METRICS + LAYER_METRICS:
        if m == "seconds":
            continue
        if exact:
            np.testing.assert_array_equal(a.metrics[m], b.metrics[m], err_msg=m)
        else:
            np.testing.assert_array_equal(a.metrics[m][:, 0], b.metrics[m][:, 0], err_msg=m)  # epoch 0
            np.testing.assert_allclose(a.metrics[m], b.metrics[m], atol=1e-4, rtol=0, err_msg=m)


def test_each_point_alone_in_its_group_equals_core_train_bit_for_bit():
    from core.train import train

    s = Sweep(validate(**TINY), {"width": (8, 12), "batch_size": (16, 32)})  # every point its own shapes
    res = run_sweep(s)
    for run, cfg in zip(res.experiment.runs, s.configs(), strict=True):
        _same(run, train(cfg), exact=True)


def test_points_sharing_shapes_equal_core_train(small):
    """Identical at epoch 0 and within 1e-4 after 3 epochs (the engine's contract for variants
    as slices; bit for bit while they train one after another)."""
    from core.train import train

    for run, cfg in zip(small.experiment.runs, small.sweep.configs(), strict=True):
        _same(run, train(cfg), exact=False)


def test_tidy_has_one_row_per_point_seed_epoch_and_layer(small):
    t = small.tidy()
    s = small.sweep
    assert len(t) == len(s.points()) * 3 * (3 + 1) * 2
    assert list(t.columns[:6]) == ["dropout", "activation", "point", "seed", "epoch", "layer"]
    assert not t.duplicated(["point", "seed", "epoch", "layer"]).any()
    for p in s.points():
        rows = t[t.point == point_name(p)]
        assert (rows.dropout == p["dropout"]).all() and (rows.activation == p["activation"]).all()
    run = small.experiment.runs[1]  # dropout 0, linear
    row = t[(t.point == run.name) & (t.seed == 2) & (t.epoch == 3) & (t.layer == 1)].iloc[0]
    assert row.val_loss == run.metrics["val_loss"][2, 3] and row.zero_frac == run.metrics["zero_frac"][2, 3, 1]


def _independent_summary(t: pd.DataFrame, fields: list[str]) -> pd.DataFrame:
    """Each main metric from the tidy table alone, with pandas and scipy."""
    last = t[t.epoch == t.epoch.max()]
    per_seed = {
        "gap_loss": last[last.layer == 0].groupby(["point", "seed"]).gap_loss.first(),
        "val_acc": last[last.layer == 0].groupby(["point", "seed"]).val_acc.first(),
        "dead": last.groupby(["point", "seed"]).dead.sum(),
        "zero_frac": last.groupby(["point", "seed"]).zero_frac.mean(),
        "mask_agreement": last[last.layer == 0].groupby(["point", "seed"]).mask_agreement.first(),
        "revived": t.groupby(["point", "seed"]).revived.sum(),  # every layer and epoch (NaN at 0 skipped)
    }
    rows = []
    for m, s in per_seed.items():
        for point, v in s.groupby(level="point"):
            v = v.to_numpy(float)
            with np.errstate(invalid="ignore"):  # no spread: scipy's bounds are NaN
                lo, hi = stats.t.interval(0.95, len(v) - 1, loc=v.mean(), scale=stats.sem(v))
            rows.append({"point": point, "metric": m, "mean": v.mean(), "lo": lo, "hi": hi, "n": len(v)})
    return pd.DataFrame(rows)


def test_summary_means_and_intervals_match_an_independent_computation(small):
    summ = small.summary()
    s = small.sweep
    assert list(summ.columns) == ["dropout", "activation", "metric", "mean", "lo", "hi", "n"]
    assert len(summ) == len(s.points()) * len(MAIN_METRICS) and set(summ.metric) == set(MAIN_METRICS)
    summ["point"] = [point_name({"dropout": d, "activation": a}) for d, a in zip(summ.dropout, summ.activation,
                                                                                  strict=True)]
    ref = _independent_summary(small.tidy(), list(s.fields))
    got = summ.merge(ref, on=["point", "metric"], suffixes=("", "_ref"))
    assert len(got) == len(ref) == len(s.points()) * 6
    np.testing.assert_allclose(got["mean"], got["mean_ref"], rtol=1e-9, atol=1e-12)
    flat = got.lo_ref.isna()  # every seed the same figure (mask agreement 1 without dropout): no spread
    assert 0 < (~flat).sum() and (got[flat].lo == got[flat]["mean"]).all() and (got[flat].hi == got[flat]["mean"]).all()
    for col in ("lo", "hi"):
        np.testing.assert_allclose(got[~flat][col], got[~flat][f"{col}_ref"], rtol=1e-9, atol=1e-12)
    assert (got.n == 3).all()


def test_summary_of_one_seed_has_no_interval_and_sigmoid_has_no_mask_figure():
    s = Sweep(validate(**{**TINY, "seeds": 1}), {"activation": ("relu", "sigmoid")})
    summ = run_sweep(s).summary()
    one = summ[summ.metric == "gap_loss"]
    assert (one.n == 1).all() and one.lo.isna().all() and one.hi.isna().all() and one["mean"].notna().all()
    mask = summ[(summ.metric == "mask_agreement") & (summ.activation == "sigmoid")]
    assert (mask.n == 0).all() and mask["mean"].isna().all()


# -- the store -------------------------------------------------------------------------------


def test_a_finished_sweep_is_kept_and_served_not_retrained(tmp_path, count_trainings):
    from core.store import RunStore

    store = RunStore(tmp_path / "runs.db")
    s = Sweep(validate(**TINY), {"dropout": (0.0, 0.5)}, title="my sweep")
    first = run_sweep(s, store=store)
    assert len(count_trainings) == 1 and first.kept and not first.served
    again = run_sweep(Sweep(validate(**TINY), {"dropout": (0.0, 0.5)}, title="my sweep"), store=store)
    assert len(count_trainings) == 1 and again.served
    pd.testing.assert_frame_equal(first.tidy(), again.tidy())
    pd.testing.assert_frame_equal(first.summary(), again.summary())
    listed = store.list()
    assert len(listed) == 1 and listed[0]["kind"] == "sweep" and listed[0]["title"] == "my sweep"
    assert listed[0]["grid"] == {"dropout": [0.0, 0.5]} and listed[0]["networks"] == 6
    retrained = run_sweep(s, store=store, retrain=True)
    assert len(count_trainings) == 2 and not retrained.served and len(store.list()) == 1


def test_a_stored_sweep_is_an_experiment_that_runs_export_reads(tmp_path, small):
    from core.results import Experiment
    from core.store import RunStore

    store = RunStore(tmp_path / "runs.db")
    res = run_sweep(small.sweep, store=store)
    exp = Experiment.from_dict(store.get(small.sweep.key()))
    assert [r.name for r in exp.runs] == list(small.sweep.variants())
    assert exp.to_frame().shape[0] == res.tidy().shape[0]


# -- budget ----------------------------------------------------------------------------------


def test_the_whole_sweep_is_counted_and_refused_with_advice(tmp_path):
    from core.cost import work
    from core.serve import BudgetError, Limits

    s = Sweep(validate(**TINY), {"dropout": (0.0, 0.25, 0.5), "activation": ("relu", "linear")})
    assert sweep_work(s) == work(s.configs()) == 6 * 3 * 3 * 100 * 8 * 2
    limits = Limits(hosted=True, max_work=sweep_work(s) - 1)
    with pytest.raises(BudgetError) as e:
        check_sweep(s, limits)
    msg = str(e.value)
    assert "6 points × 3 seeds = 18 networks" in msg and "the hosted demo allows" in msg
    assert "seeds (3; at most 2 fit)" in msg and "points (6" in msg and "epochs (3)" in msg
    check_sweep(s, Limits(hosted=True, max_work=sweep_work(s)))  # at the limit: allowed
    check_sweep(s, Limits())                                     # locally: no limit


def test_a_stored_sweep_is_served_whatever_its_size(tmp_path):
    from core.serve import BudgetError, Limits
    from core.store import RunStore

    store = RunStore(tmp_path / "runs.db")
    s = Sweep(validate(**TINY), {"dropout": (0.0, 0.5)})
    tight = Limits(hosted=True, max_work=10)
    with pytest.raises(BudgetError):
        check_sweep(s, tight, store=store)
    run_sweep(s, store=store)
    check_sweep(s, tight, store=store)


def test_memory_of_a_sweep_is_checked_too():
    from core.serve import BudgetError, Limits

    s = Sweep(validate(**TINY), {"width": (8, 1024)})
    with pytest.raises(BudgetError, match="memory"):
        check_sweep(s, Limits(hosted=True, max_memory_mb=60))


# -- presets ---------------------------------------------------------------------------------


def test_presets_sweep_what_the_issue_names_and_fit_the_hosted_budget():
    from core.serve import HOSTED_MAX_WORK

    d = SWEEP_PRESETS["dropout-sweep"]
    assert dict(d.grid) == {"dropout": GRID_DEFAULTS["dropout"], "activation": ("relu", "linear")}
    lr = SWEEP_PRESETS["dying-relu-lr"]
    assert dict(lr.grid)["activation"] == ("relu", "leaky_relu") and lr.base.optimizer == "adam"
    assert len(dict(lr.grid)["lr"]) >= 4
    for name, s in SWEEP_PRESETS.items():
        assert s.preset == name and s.title
        assert sweep_work(s) <= HOSTED_MAX_WORK, name
