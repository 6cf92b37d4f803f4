"""Charts of the per-epoch numbers (dashboard/charts/curves.py): traces, colours, bands, axes,
and which counts the dead-units chart draws for which activation."""
from __future__ import annotations

import pytest

from core.registry import ACTIVATIONS
from dashboard.charts import curves
from dashboard.charts.style import name_color

EPOCH_CHARTS = [curves.learning_curves, curves.gap_chart, curves.dead_units, curves.mask_stability]


def _means(fig):
    return [t for t in fig.data if t.meta == "mean"]


def _bands(fig):
    return [t for t in fig.data if t.meta == "band"]


@pytest.mark.parametrize("build", EPOCH_CHARTS, ids=lambda f: f.__name__)
def test_one_colour_per_variant_and_bands(build, tiny_experiment):
    fig = build(tiny_experiment)
    by_variant: dict[str, set] = {}
    for t in _means(fig):
        by_variant.setdefault(t.legendgroup, set()).add(t.line.color)
    assert set(by_variant) == {"ReLU", "dropout"}
    assert all(len(c) == 1 for c in by_variant.values()), by_variant
    assert by_variant["ReLU"] != by_variant["dropout"]
    # 2 seeds -> every mean line has its band, in the variant's colour
    assert len(_bands(fig)) == len(_means(fig))
    for b in _bands(fig):
        assert b.fill == "toself"


def test_learning_curves_traces_and_axes(tiny_experiment):
    fig = curves.learning_curves(tiny_experiment)
    # 2 variants x (loss, acc) x (train, val) mean lines
    assert len(_means(fig)) == 8
    assert fig.layout.xaxis.title.text == "epoch"
    assert fig.layout.yaxis.title.text == "loss (cross-entropy)"
    assert fig.layout.yaxis2.title.text == "accuracy"
    assert len(_means(fig)[0].x) == tiny_experiment.runs[0].epochs_done  # epochs 0..3


def test_zero_sources_stacks_activation_and_dropout(tiny_experiment):
    fig = curves.zero_sources(tiny_experiment)
    assert fig.layout.barmode == "stack"
    bars = [t for t in fig.data if t.type == "bar"]
    assert {b.name for b in bars} == {"zeroed by the activation (train)", "zeroed by dropout (train)"}
    drop = next(b for b in bars if "dropout" in b.name and b.xaxis == "x")
    assert drop.orientation == "h"  # names written out as tick labels on the left, not slanted under bars
    relu_idx = list(drop.y).index("ReLU")
    assert drop.x[relu_idx] == pytest.approx(0.0)  # no dropout -> no dropout zeros
    assert drop.x[list(drop.y).index("dropout")] > 0.2
    assert list(fig.layout.xaxis.range) == [0, 1.03]  # a share of outputs: 0 to 1


def test_dead_units_adds_negative_for_leaky(tiny_experiment):
    from core.train import run_experiment

    exp = run_experiment(tiny_experiment.base.replace(epochs=1, seeds=1), {"leaky": {"activation": "leaky_relu"}})
    fig = curves.dead_units(exp)
    assert any("negative" in t.hovertemplate for t in _means(fig))


def test_dead_units_draws_each_count_only_where_it_differs_from_dead(tiny_experiment):
    from core.train import run_experiment

    exp = run_experiment(tiny_experiment.base.replace(epochs=1, seeds=1, depth=1),
                         {"relu": {"activation": "relu"}, "tanh": {"activation": "tanh"}})
    labels = {(t.legendgroup, t.hovertemplate.split()[1]) for t in _means(curves.dead_units(exp))}
    assert labels == {("relu", "dead"), ("tanh", "dead"), ("tanh", "saturated")}


def test_activation_traits():
    # ReLU's zeros are exact: its "negative" and "saturated" counts are its dead count.
    keeps_negative = {a for a in ACTIVATIONS if curves.shows(a, "keeps_negative")}
    saturates = {a for a in ACTIVATIONS if curves.shows(a, "saturates")}
    assert keeps_negative == {"leaky_relu", "elu", "gelu", "silu"}
    assert saturates == {"tanh", "sigmoid"}


def _hand_run(name, activation="relu", dropout=0.0, seeds=2, epochs=3, depth=2):
    """A run with every figure 0 and epochs 0..epochs measured: tests set the ones they need."""
    import numpy as np

    from core.config import validate
    from core.results import RunResult

    r = RunResult.empty(validate(epochs=epochs, seeds=seeds, depth=depth, activation=activation, dropout=dropout),
                        name, depth)
    for a in r.metrics.values():
        a[:] = 0.0
    r.metrics["revived"][:, 0] = np.nan  # nothing before epoch 0
    r.epochs_done, r.status = epochs + 1, "ok"
    return r


def _revived(fig):
    return [t for t in fig.data if t.meta == "revived"]


def test_dead_units_marks_the_epochs_where_units_came_back():
    a, b = _hand_run("A"), _hand_run("B")
    a.metrics["revived"][:, 1:, 1] = [[0, 3, 0], [0, 1, 0]]  # layer 2, epoch 2: 3 and 1 came back
    a.metrics["revived"][:, 1:, 0] = [[0, 0, 1], [0, 0, 0]]  # layer 1, epoch 3: 1 in one seed
    fig = curves.dead_units([a, b])
    marks = {(t.xaxis, tuple(t.x), tuple(t.y)) for t in _revived(fig)}
    assert marks == {("x2", (2,), (2.0,)), ("x", (3,), (0.5,))}  # mean over seeds, per layer panel
    assert all(t.marker.color == name_color("A") for t in _revived(fig))  # A's colour; B revived nothing
    assert {t.marker.symbol for t in _revived(fig)} == {curves.REVIVED_SYMBOL}
    legend = [t.name for t in fig.data if t.meta == "style"]
    assert legend == ["revived (dead, then alive again)"]


def test_dead_units_says_when_no_unit_came_back_and_nothing_for_old_runs():
    import numpy as np

    fig = curves.dead_units([_hand_run("A")])
    assert not _revived(fig) and [t.name for t in fig.data if t.meta == "style"] == \
        ["revived: none came back"]
    old = _hand_run("old")
    old.metrics["revived"][:] = np.nan  # stored before `revived` was measured
    fig = curves.dead_units([old])
    assert not _revived(fig) and not [t for t in fig.data if t.meta == "style"]


def test_mask_chart_draws_the_expected_agreement_for_each_dropout_variant():
    import numpy as np

    from core.metrics import expected_agreement

    plain_run, drop = _hand_run("ReLU"), _hand_run("dropout 0.3", dropout=0.3)
    drop.metrics["on_frac_train"][:, :, 0] = [[0.4, 0.5, 0.5, 0.6], [0.6, 0.5, 0.7, 0.6]]
    fig = curves.mask_stability([plain_run, drop])
    (ref,) = [t for t in fig.data if t.meta == "expected"]
    assert ref.line.dash == "dot" and ref.legendgroup == "dropout 0.3" and ref.xaxis == "x"
    want = 1 - 2 * 0.3 * 0.7 * np.array([0.5, 0.5, 0.6, 0.6])
    np.testing.assert_allclose(ref.y, want)
    np.testing.assert_allclose(ref.y, expected_agreement(0.3, np.array([0.5, 0.5, 0.6, 0.6])))
    assert [t.name for t in fig.data if t.meta == "style"] == \
        ["expected 1 − 2p(1−p)·a"]
    deeper = curves.mask_stability([drop], layer=1)  # a bound there, and labelled so
    assert [t.name for t in deeper.data if t.meta == "style"] == \
        ["deeper: at most 1 − 2p(1−p)·a"]


def test_mask_chart_says_sigmoid_does_not_apply():
    sig, relu = _hand_run("sigmoid", activation="sigmoid", dropout=0.5), _hand_run("ReLU", dropout=0.5)
    fig = curves.mask_stability([sig, relu])
    assert {t.legendgroup for t in _means(fig)} == {"ReLU"}  # no line for sigmoid
    (na,) = [t for t in fig.data if t.meta == "not-applicable"]
    assert na.name == curves.plain("sigmoid: not applicable, sigmoid is never off (every output is > 0)")
    assert na.line.color == name_color("sigmoid")
    assert len([t for t in fig.data if t.meta == "expected"]) == 1  # ReLU's only
