"""Sweep charts (dashboard/charts/sweep.py) from small real sweeps: the band is the summary's
95% interval, one line per value of the second swept setting, the axis type the grid asks for."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from core.config import validate
from core.sweep import MAIN_METRICS, Sweep, parse_grid, run_sweep
from dashboard.charts import sweep as sc
from dashboard.charts.style import FIXED_COLORS, PALETTE, color, rgba

TINY = dict(dataset="moons", n_samples=100, epochs=3, seeds=3, width=8, depth=2, batch_size=32)


@pytest.fixture(scope="module")
def dropout_sweep():
    """dropout 0, 0.5 × relu, linear: 4 points × 3 seeds, 3 epochs."""
    return run_sweep(Sweep(validate(**TINY), {"dropout": (0.0, 0.5), "activation": ("relu", "linear")}))


@pytest.fixture(scope="module")
def lr_sweep():
    """Adam lr 0.001, 0.01, 0.1 (a log grid), one activation: 3 points × 2 seeds, 2 epochs."""
    return run_sweep(Sweep(validate(**{**TINY, "seeds": 2, "epochs": 2}), {"lr": (1e-3, 1e-2, 1e-1)}))


def _traces(fig, meta):
    return [t for t in fig.data if t.meta == meta]


def test_band_is_the_summarys_interval_and_one_line_per_second_value(dropout_sweep):
    summ = dropout_sweep.summary()
    figs = dict(sc.sweep_charts(summ, dict(dropout_sweep.sweep.grid), MAIN_METRICS))
    assert list(figs) == list(MAIN_METRICS)
    fig = figs["gap_loss"]
    means, bands = _traces(fig, "mean"), _traces(fig, "band")
    assert [t.name for t in means] == ["activation relu", "activation linear"]
    assert len(bands) == 2
    for act, mean, band in zip(("relu", "linear"), means, bands, strict=True):
        rows = summ[(summ.metric == "gap_loss") & (summ.activation == act)]
        assert list(mean.x) == [0.0, 0.5] and np.allclose(mean.y, rows["mean"])
        # The band is drawn along hi, then back along lo: exactly the summary's 95% interval.
        assert list(band.x) == [0.0, 0.5, 0.5, 0.0]
        assert np.allclose(band.y, [*rows["hi"], *rows["lo"][::-1]])
        assert all(lo < m < hi for lo, m, hi in zip(rows["lo"], rows["mean"], rows["hi"], strict=True))
        lab = FIXED_COLORS[{"relu": "ReLU", "linear": "linear"}[act]]  # as the Lab draws these networks
        assert mean.line.color == lab and band.fillcolor == rgba(lab, 0.18)
    assert fig.layout.xaxis.type == "linear" and fig.layout.xaxis.title.text == "dropout"
    assert fig.layout.title.text == MAIN_METRICS["gap_loss"]


def test_log_grid_draws_a_log_axis_with_the_grids_ticks(lr_sweep):
    summ = lr_sweep.summary(["val_acc"])
    fig = sc.metric_chart(summ, "val_acc", "lr")
    assert fig.layout.xaxis.type == "log"
    assert list(fig.layout.xaxis.tickvals) == [1e-3, 1e-2, 1e-1]
    assert list(fig.layout.xaxis.ticktext) == ["0.001", "0.01", "0.1"]
    (mean,) = _traces(fig, "mean")  # one swept setting: one line, no legend entry needed
    assert mean.showlegend is False and list(mean.x) == [1e-3, 1e-2, 1e-1]
    assert np.allclose(mean.y, summ["mean"])


def test_axis_kinds_from_the_schema():
    assert sc.x_positions("activation", ["relu", "linear"])[1]["type"] == "category"
    assert sc.x_positions("batchnorm", [False, True])[0] == {False: "off", True: "on"}
    assert sc.x_positions("dropout", [0.0, 0.4, 0.8])[1]["type"] == "linear"
    assert sc.x_positions("width", [4, 8, 16])[1]["type"] == "log"  # powers of two
    # 0 (off) in a log grid: a decade below the smallest other value, labelled 0.
    where, axis = sc.x_positions("weight_decay", [0.0, 1e-4, 1e-2])
    assert axis["type"] == "log" and where[0.0] == pytest.approx(1e-5)
    assert axis["ticktext"] == ["0", "0.0001", "0.01"]
    assert sc.x_positions("noise", [0.0, 0.1, 0.2])[1]["type"] == "linear"


def test_a_summary_with_nothing_measured_is_a_titled_placeholder():
    empty = pd.DataFrame(columns=["dropout", "metric", "mean", "lo", "hi", "n"])
    fig = sc.metric_chart(empty, "gap_loss", "dropout", title="loss gap")
    assert fig.layout.title.text == "loss gap" and sc.NO_POINTS in fig.layout.annotations[0].text
    nan = pd.DataFrame([{"dropout": 0.0, "metric": "gap_loss", "mean": math.nan, "lo": math.nan, "hi": math.nan,
                         "n": 0}])
    assert not _traces(sc.metric_chart(nan, "gap_loss", "dropout"), "mean")


def test_one_seed_has_no_band_but_still_a_line():
    one = pd.DataFrame([{"dropout": p, "metric": "val_acc", "mean": 0.8, "lo": math.nan, "hi": math.nan, "n": 1}
                        for p in (0.0, 0.5)])
    fig = sc.metric_chart(one, "val_acc", "dropout")
    assert not _traces(fig, "band") and len(_traces(fig, "mean")) == 1


def test_a_third_swept_setting_is_fixed_at_its_first_value():
    rows = [{"dropout": p, "activation": a, "width": w, "metric": "val_acc", "mean": w / 100, "lo": 0, "hi": 1, "n": 3}
            for p in (0.0, 0.5) for a in ("relu", "linear") for w in (8, 16)]
    ((_, fig),) = sc.sweep_charts(pd.DataFrame(rows), {"dropout": (0.0, 0.5), "activation": ("relu", "linear"),
                                                       "width": (8, 16)}, {"val_acc": "val acc"})
    for t in _traces(fig, "mean"):
        assert list(t.y) == [0.08, 0.08]


@pytest.mark.parametrize("grid", ["dropout=0,0.1,0.8", "lr=0.0001,0.003,1", "activation=relu,leaky_relu",
                                  "batchnorm=false,true", "width=4,64,256", "weight_decay=0,1e-05,0.1"])
def test_pretty_values_read_back_as_the_same_grid(grid):
    ((name, values),) = parse_grid([grid]).items()
    assert parse_grid([f"{name}={sc.pretty(values)}"]) == {name: values}


def test_line_colours_are_the_labs_where_a_value_is_a_lab_variant_and_never_alike():
    assert sc.line_colors("activation", ["relu", "linear"]) == [FIXED_COLORS["ReLU"], FIXED_COLORS["linear"]]
    assert sc.line_colors("dropout", [0.0, 0.5, 0.9]) == list(PALETTE[:3])  # the palette, in order
    mixed = sc.line_colors("activation", ["tanh", "relu", "gelu", "linear"])
    assert mixed[1] == FIXED_COLORS["ReLU"] and mixed[3] == FIXED_COLORS["linear"]
    assert len(set(mixed)) == 4  # tanh and gelu take palette colours neither fixed line holds
    assert sc.line_colors(None, [None]) == [color(0)]
