"""Charts of the numbers measured every epoch: learning curves, the overfitting gap, dead units,
mask stability, and where the last epoch's zeros come from. Each takes an `Experiment` or a list
of runs and returns a plotly Figure; no Streamlit."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.metrics import expected_agreement
from core.registry import ACTIVATIONS, mask_note
from dashboard.charts.style import (
    add_mean_band,
    drawable,
    empty,
    epochs,
    fit_count,
    fit_fraction,
    frame,
    gaps,
    pick_layers,
    plain,
    rgba,
    runs_of,
    separate_overlaps,
    stats,
    style_legend,
    variant_colors,
)


# Until core.registry's activations carry these traits: the activations whose outputs can be
# negative without being exactly 0, and those that saturate. (Removed when the traits land.)
def shows(act: str, trait: str) -> bool:
    """Whether activation `act` has `trait` ("keeps_negative", "saturates"): the dead-units chart
    then also draws that count, where it differs from dead."""
    return bool(getattr(ACTIVATIONS[act], trait))


NO_EPOCHS = "No epochs measured yet."


def _colored(obj) -> list[tuple[str, object]]:
    """(colour, run) for the runs that measured at least one epoch, each in its name's colour."""
    runs = runs_of(obj)
    cols = variant_colors([r.name for r in runs])
    return [(cols[i], r) for i, r in drawable(runs)]


def _two_panels(obj, title: str, height: int, font_size: int) -> tuple[list, go.Figure]:
    """(drawable runs as (colour, run), two panels side by side with their own y axes, framed);
    with no epochs measured yet: ([], the titled placeholder). The right panel's y axis is on
    its right, so no axis title sits between the panels; what each panel shows is its y title."""
    runs = _colored(obj)
    if not runs:
        return [], empty(title, NO_EPOCHS, height, font_size)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.06)
    fig.update_yaxes(side="right", row=1, col=2)
    return runs, frame(fig, title, height, font_size)


def _per_layer(obj, title: str, height: int, font_size: int,
               unified: bool = True) -> tuple[list, list[int], go.Figure]:
    """(drawable runs as (colour, run), the hidden layers to show, one panel per layer sharing the
    y axis, framed); with no epochs measured yet: ([], [], the titled placeholder)."""
    runs = _colored(obj)
    if not runs:
        return [], [], empty(title, NO_EPOCHS, height, font_size)
    layers = pick_layers(max(r.layers for _, r in runs))
    fig = make_subplots(rows=1, cols=len(layers), subplot_titles=[f"layer {k + 1}" for k in layers],
                        shared_yaxes=True, horizontal_spacing=0.04)
    return runs, layers, frame(fig, title, height, font_size, unified, panel_titles=True)


# ---------------------------------------------------------------- learning curves
def learning_curves(obj, font_size: int = 13) -> go.Figure:
    """Train (dashed) and validation (solid) loss and accuracy vs epoch, one colour per variant."""
    runs, fig = _two_panels(obj, "Learning curves", 380, font_size)
    if not runs:
        return fig
    for c, r in runs:
        x = epochs(r)
        for col, metric in ((1, "loss"), (2, "acc")):
            add_mean_band(fig, x, r.curve(f"val_{metric}"), name=r.name, col_=c, col=col, label="val",
                          showlegend=col == 1, legendgroup=r.name)
            add_mean_band(fig, x, r.curve(f"train_{metric}"), name=r.name, col_=c, col=col, dash="dash",
                          label="train", showlegend=False, legendgroup=r.name)
    style_legend(fig, "validation", "solid")
    style_legend(fig, "train", "dash")
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="loss (cross-entropy)", row=1, col=1, rangemode="tozero")
    fig.update_yaxes(title_text="accuracy", row=1, col=2)
    fit_fraction(fig, 2)
    separate_overlaps(fig, tol=1e-3)
    return fig


# ---------------------------------------------------------------- overfitting gap
def gap_chart(obj, font_size: int = 13) -> go.Figure:
    runs, fig = _two_panels(obj, "Overfitting gap (validation worse than train)", 380, font_size)
    if not runs:
        return fig
    for c, r in runs:
        x = epochs(r)
        add_mean_band(fig, x, r.curve("gap_loss"), name=r.name, col_=c, col=1, label="loss gap")
        add_mean_band(fig, x, r.curve("gap_acc"), name=r.name, col_=c, col=2, label="acc gap",
                      showlegend=False)
    for col in (1, 2):
        fig.add_hline(y=0, line=dict(color="#999", width=1), row=1, col=col)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="loss gap (val − train)", row=1, col=1)
    fig.update_yaxes(title_text="accuracy gap (train − val)", row=1, col=2)
    fit_fraction(fig, 2, lo=-1.0, hi=1.0, min_span=0.05)
    separate_overlaps(fig, tol=1e-3)
    return fig


# ---------------------------------------------------------------- dead units
REVIVED_SYMBOL = "triangle-up"


def _revived_markers(fig: go.Figure, x: np.ndarray, a: np.ndarray, *, name: str, col_: str, col: int) -> bool:
    """Triangles at the epochs where units came back (mean over seeds > 0), at the height of that
    mean; hover gives min and max over seeds. Returns whether any was drawn."""
    mean, lo, hi = stats(a)
    show = np.isfinite(mean) & (mean > 0)
    if not show.any():
        return False
    name = plain(name)
    fig.add_trace(go.Scatter(
        x=x[show].tolist(), y=mean[show].tolist(), mode="markers", name=name, legendgroup=name, showlegend=False,
        marker=dict(symbol=REVIVED_SYMBOL, size=10, color=col_, line=dict(color="#fff", width=1)),
        customdata=np.stack([lo[show], hi[show]], 1).tolist(),
        hovertemplate=f"{name} revived %{{y:.1f}}" + ("<br>min %{customdata[0]:.0f} – max %{customdata[1]:.0f}"
                                                      if a.shape[0] > 1 else "") + "<extra></extra>",
        meta="revived"), row=1, col=col)
    return True


def dead_units(obj, font_size: int = 13) -> go.Figure:
    """Dead units per hidden layer vs epoch, with triangles where dead units came back (revived);
    plus 'negative' (leaky/elu/gelu/silu) and 'saturated' (tanh/sigmoid) where the activation
    makes them differ from dead."""
    runs, layers, fig = _per_layer(obj, "Dead units per hidden layer", 380, font_size)
    if not runs:
        return fig
    extra = set()
    revived = measured = False
    for c, r in runs:
        x, act, of = epochs(r), r.config.activation, str(r.config.width)
        for col, k in enumerate(layers, start=1):
            if k >= r.layers:
                continue
            add_mean_band(fig, x, r.curve("dead", k), name=r.name, col_=c, col=col, label="dead",
                          showlegend=col == 1, legendgroup=r.name, fmt=".1f", of=of)
            back = r.curve("revived", k)  # all NaN for a run stored before `revived` existed
            measured |= bool(np.isfinite(back).any())
            revived |= _revived_markers(fig, x, back, name=r.name, col_=c, col=col)
            if shows(act, "keeps_negative"):
                extra.add("negative")
                add_mean_band(fig, x, r.curve("negative", k), name=r.name, col_=c, col=col, dash="dot",
                              label="negative", showlegend=False, legendgroup=r.name, fmt=".1f", of=of)
            if shows(act, "saturates"):
                extra.add("saturated")
                add_mean_band(fig, x, r.curve("saturated", k), name=r.name, col_=c, col=col, dash="dashdot",
                              label="saturated", showlegend=False, legendgroup=r.name, fmt=".1f", of=of)
    if extra:
        style_legend(fig, "dead", "solid")
        if "negative" in extra:
            style_legend(fig, "negative on every input", "dot")
        if "saturated" in extra:
            style_legend(fig, "saturated", "dashdot")
    if measured:  # what the triangles are, or that there are none to see
        label = "revived (dead, then alive again)" if revived else "revived: none came back"
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=label, showlegend=True, hoverinfo="skip",
                                 marker=dict(symbol=REVIVED_SYMBOL, size=10, color="#777"), legendgroup="style-revived",
                                 meta="style"), row=1, col=1)
    fig.update_xaxes(title_text="epoch")
    widths = sorted({r.config.width for _, r in runs})
    of = str(widths[0]) if len(widths) == 1 else "–".join(map(str, (widths[0], widths[-1])))
    fig.update_yaxes(title_text=f"units (of {of} per layer)", row=1, col=1)
    fit_count(fig, 1, shared=True)
    separate_overlaps(fig, tol=0.05)
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
        for c, r in runs:
            if k >= r.layers:
                continue
            xs.append(plain(r.name))
            cols.append(c)
            act_v.append(float(stats(r.final("act_zero_frac_train")[:, k])[0]))
            drop_v.append(float(stats(r.final("dropout_zero_frac_train")[:, k])[0]))
            eval_v.append(float(stats(r.final("zero_frac")[:, k])[0]))
        first = col == 1
        # Horizontal bars: the variants' names are tick labels on the left, written out in full
        # (slanted names under narrow bars were cut off).
        fig.add_trace(go.Bar(y=xs, x=gaps(np.array(act_v)), orientation="h", name="zeroed by the activation (train)",
                             marker=dict(color=cols), legendgroup="act", showlegend=first,
                             hovertemplate="%{y}<br>activation zeros %{x:.3f}<extra></extra>"), row=1, col=col)
        fig.add_trace(go.Bar(y=xs, x=gaps(np.array(drop_v)), orientation="h", name="zeroed by dropout (train)",
                             marker=dict(color=[rgba(c, 0.45) for c in cols],
                                         pattern=dict(shape="/", fgcolor="#333", size=6)),
                             legendgroup="drop", showlegend=first,
                             hovertemplate="%{y}<br>dropout zeros %{x:.3f}<extra></extra>"), row=1, col=col)
        fig.add_trace(go.Scatter(y=xs, x=gaps(np.array(eval_v)), mode="markers", name="zeros at test time (eval)",
                                 marker=dict(symbol="diamond", size=12, color="#111", line=dict(color="#fff", width=1)),
                                 legendgroup="eval", showlegend=first,
                                 hovertemplate="%{y}<br>eval zeros %{x:.3f}<extra></extra>"), row=1, col=col)
    fig.update_layout(barmode="stack")
    fig.update_yaxes(categoryorder="array", categoryarray=names[::-1])  # the first variant on top
    fig.update_xaxes(range=[0, 1.03], autorange=False, tickvals=[0, 0.5, 1])
    fig.update_xaxes(title_text="share of outputs = 0", row=1, col=1)
    return fig


# ---------------------------------------------------------------- mask stability
EXPECTED_DASH = "dot"
# Dark, not the variant's colour: where the measured line matches it (the first layer), a
# reference in the same colour would vanish under it.
EXPECTED_COLOR = "#222"


def mask_stability(obj, layer: int = 0, font_size: int = 13) -> go.Figure:
    """Agreement of two train-mode passes and flips since the epoch before, for one hidden layer.
    "On" is output > 0: for ReLU "not exactly 0", for tanh, linear, leaky ReLU, ELU, GELU and SiLU
    the sign of the output. Sigmoid is never off, so it has no line, and the legend says so. Each
    dropout variant gets a dotted reference: 1 − 2p(1−p)·a (a = on_frac_train), the expected
    agreement in the first hidden layer and an upper bound deeper (core.metrics.expected_agreement)."""
    runs, fig = _two_panels(obj, f"Is the zero pattern fixed or re-drawn? (hidden layer {layer + 1})", 380,
                            font_size)
    if not runs:
        return fig
    references = set()
    for c, r in runs:
        k = min(layer, r.layers - 1)
        x = epochs(r)
        why = mask_note(r.config.activation)
        if why is not None:  # a legend entry in the variant's colour instead of a line
            fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=plain(f"{r.name}: not applicable, {why}"),
                                     line=dict(color=c, width=2.5), legendgroup=plain(r.name), hoverinfo="skip",
                                     meta="not-applicable"), row=1, col=1)
            continue
        add_mean_band(fig, x, r.curve("mask_agreement", k), name=r.name, col_=c, col=1, label="agreement")
        add_mean_band(fig, x, r.curve("mask_flip", k), name=r.name, col_=c, col=2, label="flips",
                      showlegend=False)
        p = r.config.dropout
        if p > 0:
            mean = stats(expected_agreement(p, r.curve("on_frac_train", k)))[0]
            if np.isfinite(mean).any():  # a run stored before on_frac_train existed has none
                references.add(k == 0)
                what = "expected" if k == 0 else "bound"
                fig.add_trace(go.Scatter(
                    x=x.tolist(), y=gaps(mean), mode="lines", name=plain(r.name), legendgroup=plain(r.name),
                    showlegend=False, line=dict(color=EXPECTED_COLOR, dash=EXPECTED_DASH, width=2),
                    hovertemplate=f"{plain(r.name)} {what} %{{y:.4f}}<extra></extra>", meta="expected"),
                    row=1, col=1)
    if True in references:
        _reference_legend(fig, "expected 1 − 2p(1−p)·a")
    if False in references:
        _reference_legend(fig, "deeper: at most 1 − 2p(1−p)·a")
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="agreement of 2 passes", row=1, col=1)
    fig.update_yaxes(title_text="share flipped", row=1, col=2)
    fit_fraction(fig, 1, whole=True)  # agreement: the whole of [0, 1], so 0.8 looks far from 1.0
    fit_fraction(fig, 2, min_span=0.02)
    separate_overlaps(fig, tol=1e-3)
    return fig


def _reference_legend(fig: go.Figure, name: str) -> None:
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=name, showlegend=True, hoverinfo="skip",
                             line=dict(color=EXPECTED_COLOR, dash=EXPECTED_DASH, width=2),
                             legendgroup=f"style-{name}", meta="style"), row=1, col=1)
