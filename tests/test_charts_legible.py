"""What makes the charts legible, checked on the figures themselves: axes that fit their
quantities, lines on top of each other drawn so both show, counts with their denominator, titles
that fit a phone, and the raster's grey for off. (dashboard/charts/style.py and the builders.)"""
from __future__ import annotations

import numpy as np

from dashboard.charts import curves, pictures, style, summary
from dashboard.text import CAPTIONS


def _run(name, activation="relu", dropout=0.0, seeds=2, epochs=3, depth=2, width=64):
    from core.config import validate
    from core.results import RunResult

    r = RunResult.empty(validate(epochs=epochs, seeds=seeds, depth=depth, activation=activation, dropout=dropout,
                                 width=width), name, depth)
    for a in r.metrics.values():
        a[:] = 0.0
    r.metrics["revived"][:, 0] = np.nan
    r.epochs_done, r.status = epochs + 1, "ok"
    return r


def _relu_linear_dropout():
    """ReLU and linear agree with themselves exactly (1.0); dropout's agreement is 0.8."""
    relu, lin, drop = _run("ReLU"), _run("linear", activation="linear"), _run("ReLU + dropout 0.5", dropout=0.5)
    for r, v in ((relu, 1.0), (lin, 1.0), (drop, 0.8)):
        r.metrics["mask_agreement"][:] = v
        r.metrics["val_acc"][:] = 0.9
    drop.metrics["on_frac_train"][:] = 0.5
    drop.metrics["mask_flip"][:] = 0.2  # re-drawn: its flips stand apart from the others' 0
    return [relu, drop, lin]


def test_coinciding_agreement_lines_get_their_own_dash_and_the_legend_says_they_overlap():
    fig = curves.mask_stability(_relu_linear_dropout())
    agree = {t.name: t for t in fig.data if t.meta == "mean" and t.xaxis == "x"}
    relu, lin, drop = agree["ReLU"], agree["linear"], agree["ReLU + dropout 0.5"]
    assert relu.y == lin.y  # the same numbers ...
    assert relu.line.dash != lin.line.dash  # ... drawn so both show: one dashed over the other
    assert relu.line.width > lin.line.width  # the one below is the wider
    assert drop.line.dash == "solid"  # a line on its own is left alone
    legend = [t.name for t in fig.data if t.meta == "overlap"]
    assert legend == ["overlap: ReLU = linear"]
    assert any(a.text == "2 lines overlap" for a in fig.layout.annotations)


def test_agreement_and_fractions_fit_zero_to_one_never_two():
    fig = curves.mask_stability(_relu_linear_dropout())
    lo, hi = fig.layout.yaxis.range
    assert -0.05 <= lo <= 0 and 1 <= hi <= 1.05  # agreement: all of [0, 1], a little margin
    lo2, hi2 = fig.layout.yaxis2.range  # flips: all 0 here, still a small positive axis
    assert -0.05 <= lo2 <= 0 < hi2 <= 1.05
    acc = curves.learning_curves(_relu_linear_dropout()).layout.yaxis2.range
    assert acc[1] <= 1.05 and acc[0] <= 0.9 <= acc[1]
    for r in _relu_linear_dropout():
        r.metrics["val_acc"][:] = 1.0  # plotly's autorange would put a constant 1 on 0..2
        r.metrics["train_acc"][:] = 1.0
    lo, hi = curves.learning_curves(_relu_linear_dropout()).layout.yaxis2.range
    assert hi <= 1.05 and lo < 1


def test_dead_units_say_of_how_many():
    r = _run("ReLU", width=128)
    r.metrics["dead"][:, :, 0] = [[0, 40, 52, 52], [0, 50, 52, 52]]
    fig = curves.dead_units([r])
    assert fig.layout.yaxis.title.text == "units (of 128 per layer)"
    mean = next(t for t in fig.data if t.meta == "mean" and t.xaxis == "x")
    assert "of 128" in mean.hovertemplate
    lo, hi = fig.layout.yaxis.range
    assert lo <= 0 and 52 <= hi < 64  # fits the counts, not autorange's guess
    (row,) = summary.summary_rows([r])
    assert row["dead units"] == "52.0 ± 0.0 of 256"  # both seeds 52 dead of 2 layers × 128


def test_titles_are_wrapped_to_fit_a_phone():
    assert style.wrap("Is the zero pattern fixed or re-drawn? (hidden layer 1)") == \
        "Is the zero pattern fixed or<br>re-drawn? (hidden layer 1)"
    fig = curves.mask_stability(_relu_linear_dropout())
    assert all(len(line) <= style.TITLE_CHARS for line in fig.layout.title.text.split("<br>"))
    assert fig.layout.legend.yref == "container"  # hangs from the bottom, below the x axis title


def test_the_right_panel_has_its_y_axis_on_the_right():
    for build in (curves.learning_curves, curves.gap_chart, curves.mask_stability):
        fig = build(_relu_linear_dropout())
        assert fig.layout.yaxis2.side == "right", build.__name__


def test_the_raster_draws_off_in_grey_and_the_caption_says_so(tiny_experiment):
    fig = pictures.raster(tiny_experiment)
    heat = [t for t in fig.data if t.type == "heatmap"]
    assert all(t.colorscale[0][1] == pictures.OFF for t in heat)
    assert "grey = ≤ 0 (off)" in CAPTIONS["on-off-raster"] and "white" in CAPTIONS["on-off-raster"]
    assert "0 = off (≤ 0)" in heat[0].hovertemplate


def test_a_shared_count_axis_holds_every_layer():
    r = _run("ReLU", width=64)
    r.metrics["dead"][:, :, 0] = 3  # layer 1: few dead
    r.metrics["dead"][:, :, 1] = 48  # layer 2: most
    fig = curves.dead_units([r])
    lo, hi = fig.layout.yaxis.range
    assert fig.layout.yaxis2.matches == "y" and hi >= 48  # layer 2's line is inside the shared axis
