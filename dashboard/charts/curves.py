"""Charts of the numbers measured every epoch: learning curves, the overfitting gap, dead units,
mask stability, and where the last epoch's zeros come from. Each takes an `Experiment` or a list
of runs and returns a plotly Figure; no Streamlit."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.registry import ACTIVATIONS
from dashboard.charts.style import (
    add_mean_band,
    color,
    drawable,
    empty,
    epochs,
    frame,
    gaps,
    pick_layers,
    plain,
    rgba,
    runs_of,
    stats,
    style_legend,
)


# Until core.registry's activations carry these traits: the activations whose outputs can be
# negative without being exactly 0, and those that saturate. (Removed when the traits land.)
def shows(act: str, trait: str) -> bool:
    """Whether activation `act` has `trait` ("keeps_negative", "saturates"): the dead-units chart
    then also draws that count, where it differs from dead."""
    return bool(getattr(ACTIVATIONS[act], trait))


NO_EPOCHS = "No epochs measured yet."


def _two_panels(obj, titles: tuple[str, str], title: str, height: int, font_size: int) -> tuple[list, go.Figure]:
    """(drawable runs, two panels side by side with their own y axes, framed); with no epochs
    measured yet: ([], the titled placeholder)."""
    runs = drawable(runs_of(obj))
    if not runs:
        return [], empty(title, NO_EPOCHS, height, font_size)
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles, horizontal_spacing=0.08)
    return runs, frame(fig, title, height, font_size)


def _per_layer(obj, title: str, height: int, font_size: int,
               unified: bool = True) -> tuple[list, list[int], go.Figure]:
    """(drawable runs, the hidden layers to show, one panel per layer sharing the y axis, framed);
    with no epochs measured yet: ([], [], the titled placeholder)."""
    runs = drawable(runs_of(obj))
    if not runs:
        return [], [], empty(title, NO_EPOCHS, height, font_size)
    layers = pick_layers(max(r.layers for _, r in runs))
    fig = make_subplots(rows=1, cols=len(layers), subplot_titles=[f"hidden layer {k + 1}" for k in layers],
                        shared_yaxes=True, horizontal_spacing=0.04)
    return runs, layers, frame(fig, title, height, font_size, unified)


# ---------------------------------------------------------------- learning curves
def learning_curves(obj, font_size: int = 13) -> go.Figure:
    """Train (dashed) and validation (solid) loss and accuracy vs epoch, one colour per variant."""
    runs, fig = _two_panels(obj, ("loss (cross-entropy)", "accuracy"), "Learning curves", 380, font_size)
    if not runs:
        return fig
    for i, r in runs:
        x, c = epochs(r), color(i)
        for col, metric in ((1, "loss"), (2, "acc")):
            add_mean_band(fig, x, r.curve(f"val_{metric}"), name=r.name, col_=c, col=col, label="val",
                          showlegend=col == 1, legendgroup=r.name)
            add_mean_band(fig, x, r.curve(f"train_{metric}"), name=r.name, col_=c, col=col, dash="dash",
                          label="train", showlegend=False, legendgroup=r.name)
    style_legend(fig, "validation", "solid")
    style_legend(fig, "train", "dash")
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="loss", row=1, col=1)
    fig.update_yaxes(title_text="accuracy", row=1, col=2)
    return fig


# ---------------------------------------------------------------- overfitting gap
def gap_chart(obj, font_size: int = 13) -> go.Figure:
    runs, fig = _two_panels(obj, ("loss gap = val loss − train loss", "accuracy gap = train acc − val acc"),
                            "Overfitting gap (validation worse than train)", 340, font_size)
    if not runs:
        return fig
    for i, r in runs:
        x, c = epochs(r), color(i)
        add_mean_band(fig, x, r.curve("gap_loss"), name=r.name, col_=c, col=1, label="loss gap")
        add_mean_band(fig, x, r.curve("gap_acc"), name=r.name, col_=c, col=2, label="acc gap",
                      showlegend=False)
    for col in (1, 2):
        fig.add_hline(y=0, line=dict(color="#999", width=1), row=1, col=col)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="loss gap", row=1, col=1)
    fig.update_yaxes(title_text="accuracy gap", row=1, col=2)
    return fig


# ---------------------------------------------------------------- dead units
def dead_units(obj, font_size: int = 13) -> go.Figure:
    """Dead units per hidden layer vs epoch; plus 'negative' (leaky/elu/gelu/silu) and 'saturated'
    (tanh/sigmoid) where the activation makes them differ from dead."""
    runs, layers, fig = _per_layer(obj, "Dead units per hidden layer", 340, font_size)
    if not runs:
        return fig
    extra = set()
    for i, r in runs:
        x, c, act = epochs(r), color(i), r.config.activation
        for col, k in enumerate(layers, start=1):
            if k >= r.layers:
                continue
            add_mean_band(fig, x, r.curve("dead", k), name=r.name, col_=c, col=col, label="dead",
                          showlegend=col == 1, legendgroup=r.name, fmt=".1f")
            if shows(act, "keeps_negative"):
                extra.add("negative")
                add_mean_band(fig, x, r.curve("negative", k), name=r.name, col_=c, col=col, dash="dot",
                              label="negative", showlegend=False, legendgroup=r.name, fmt=".1f")
            if shows(act, "saturates"):
                extra.add("saturated")
                add_mean_band(fig, x, r.curve("saturated", k), name=r.name, col_=c, col=col, dash="dashdot",
                              label="saturated", showlegend=False, legendgroup=r.name, fmt=".1f")
    if extra:
        style_legend(fig, "dead", "solid")
        if "negative" in extra:
            style_legend(fig, "negative on every input", "dot")
        if "saturated" in extra:
            style_legend(fig, "saturated", "dashdot")
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="units", row=1, col=1, rangemode="tozero")
    return fig


# ---------------------------------------------------------------- where the zeros come from
def zero_sources(obj, font_size: int = 13) -> go.Figure:
    """Final epoch, per hidden layer: share of outputs zeroed by the activation and, on top, by
    the dropout mask (train mode), with the eval-mode zero fraction as a diamond."""
    runs, layers, fig = _per_layer(obj, "Where the zeros come from (last epoch)", 360, font_size, unified=False)
    if not runs:
        return fig
    names = [plain(r.name) for _, r in runs]  # categories: drawn as tick labels and in the hover
    for col, k in enumerate(layers, start=1):
        act_v, drop_v, eval_v, cols, xs = [], [], [], [], []
        for i, r in runs:
            if k >= r.layers:
                continue
            xs.append(plain(r.name))
            cols.append(color(i))
            act_v.append(float(stats(r.final("act_zero_frac_train")[:, k])[0]))
            drop_v.append(float(stats(r.final("dropout_zero_frac_train")[:, k])[0]))
            eval_v.append(float(stats(r.final("zero_frac")[:, k])[0]))
        first = col == 1
        fig.add_trace(go.Bar(x=xs, y=gaps(np.array(act_v)), name="zeroed by the activation (train)",
                             marker=dict(color=cols), legendgroup="act", showlegend=first,
                             hovertemplate="%{x}<br>activation zeros %{y:.3f}<extra></extra>"), row=1, col=col)
        fig.add_trace(go.Bar(x=xs, y=gaps(np.array(drop_v)), name="zeroed by dropout (train)",
                             marker=dict(color=[rgba(c, 0.45) for c in cols],
                                         pattern=dict(shape="/", fgcolor="#333", size=6)),
                             legendgroup="drop", showlegend=first,
                             hovertemplate="%{x}<br>dropout zeros %{y:.3f}<extra></extra>"), row=1, col=col)
        fig.add_trace(go.Scatter(x=xs, y=gaps(np.array(eval_v)), mode="markers", name="zeros at test time (eval)",
                                 marker=dict(symbol="diamond", size=12, color="#111", line=dict(color="#fff", width=1)),
                                 legendgroup="eval", showlegend=first,
                                 hovertemplate="%{x}<br>eval zeros %{y:.3f}<extra></extra>"), row=1, col=col)
    fig.update_layout(barmode="stack")
    fig.update_xaxes(categoryorder="array", categoryarray=names, tickangle=-20)
    fig.update_yaxes(title_text="fraction of unit outputs = 0", range=[0, 1.02], row=1, col=1)
    return fig


# ---------------------------------------------------------------- mask stability
def mask_stability(obj, layer: int = 0, font_size: int = 13) -> go.Figure:
    runs, fig = _two_panels(obj, ("agreement of two train passes (same input, same weights)",
                                  "on/off flips since the previous epoch"),
                            f"Is the zero pattern fixed or re-drawn? (hidden layer {layer + 1})", 340, font_size)
    if not runs:
        return fig
    for i, r in runs:
        k = min(layer, r.layers - 1)
        x, c = epochs(r), color(i)
        add_mean_band(fig, x, r.curve("mask_agreement", k), name=r.name, col_=c, col=1, label="agreement")
        add_mean_band(fig, x, r.curve("mask_flip", k), name=r.name, col_=c, col=2, label="flips",
                      showlegend=False)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="mask agreement", row=1, col=1)
    fig.update_yaxes(title_text="fraction flipped", row=1, col=2, rangemode="tozero")
    return fig
