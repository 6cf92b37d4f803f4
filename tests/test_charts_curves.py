"""Charts of the per-epoch numbers (dashboard/charts/curves.py): traces, colours, bands, axes,
and which counts the dead-units chart draws for which activation."""
from __future__ import annotations

import pytest

from core.registry import ACTIVATIONS
from dashboard.charts import curves

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
    assert fig.layout.yaxis.title.text == "loss"
    assert fig.layout.yaxis2.title.text == "accuracy"
    assert len(_means(fig)[0].x) == tiny_experiment.runs[0].epochs_done  # epochs 0..3


def test_zero_sources_stacks_activation_and_dropout(tiny_experiment):
    fig = curves.zero_sources(tiny_experiment)
    assert fig.layout.barmode == "stack"
    bars = [t for t in fig.data if t.type == "bar"]
    assert {b.name for b in bars} == {"zeroed by the activation (train)", "zeroed by dropout (train)"}
    drop = next(b for b in bars if "dropout" in b.name and b.xaxis == "x")
    relu_idx = list(drop.x).index("ReLU")
    assert drop.y[relu_idx] == pytest.approx(0.0)  # no dropout -> no dropout zeros
    assert drop.y[list(drop.x).index("dropout")] > 0.2


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
