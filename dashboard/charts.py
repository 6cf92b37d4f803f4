"""Chart builders: results in, plotly Figures out. Pure functions, no Streamlit.

Every builder takes an `Experiment` or a list of `RunResult`s (the History page overlays runs
from several experiments) and returns a `plotly.graph_objects.Figure`. Conventions:

* one colour per variant, in the order given (`color(i)`), the same in every chart;
* over seeds: a mean line plus a min–max band (drawn only with 2+ seeds); a diverged seed's
  NaNs are left out of the mean; hover on the mean line shows the exact mean, min and max;
* a variant that has not produced a value yet (pending, or stopped before it ran) is skipped,
  and pictures a stopped variant never made (boundary, raster) say so instead of failing.
"""
from __future__ import annotations

import re
import warnings
from collections.abc import Sequence

import numpy as np

# plotly imports pandas lazily in to_json() and elsewhere only peeks at sys.modules for it, so a
# thread that builds a figure while another is half-way through that import gets a half-made
# pandas ("has no attribute 'Series'"; seen with 20 sessions at once). Import it here, whole.
import pandas  # noqa: F401
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.registry import ACTIVATIONS
from core.results import Experiment, RunResult

# Okabe–Ito: distinguishable for the common colour-vision deficiencies and on a projector.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
CLASS_COLORS = ("#1f4e9c", "#c0392b", "#2e8b57", "#8e44ad", "#d35400", "#7f8c8d", "#16a085",
                "#b7950b", "#2c3e50", "#e84393")
NEGATIVE_ACTS = {n for n, a in ACTIVATIONS.items() if a.keeps_negative}  # "negative" count shown
SATURATING_ACTS = {n for n, a in ACTIVATIONS.items() if a.saturates}  # "saturated" count shown
PROB_SCALE = [[0, "#c6dbef"], [0.5, "#f7f7f7"], [1, "#f4c1b0"]]  # pale, so the points stay visible
MAX_POINTS = 600  # points drawn per set in the boundary chart: enough to see, light to send
MAX_LAYERS = 4  # layer panels per chart; deeper nets show the first two and the last two


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _runs(obj: Experiment | Sequence[RunResult]) -> list[RunResult]:
    return list(obj.runs) if isinstance(obj, Experiment) else list(obj)


def _drawable(runs: list[RunResult]) -> list[tuple[int, RunResult]]:
    """(colour index, run) for the runs that have measured at least one epoch."""
    return [(i, r) for i, r in enumerate(runs) if r.epochs_done > 0]


def stats(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, min and max over seeds (axis 0), ignoring NaN; all-NaN columns stay NaN."""
    a = np.asarray(a, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: NaN is the right answer
        return np.nanmean(a, 0), np.nanmin(a, 0), np.nanmax(a, 0)


def pick_layers(n: int, most: int = MAX_LAYERS) -> list[int]:
    if n <= most:
        return list(range(n))
    return [0, 1, n - 2, n - 1]


def _rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[k: k + 2], 16) for k in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def _none(a: np.ndarray) -> list:
    """NaN -> None, so plotly leaves a gap and JSON stays valid."""
    return [None if not np.isfinite(v) else float(v) for v in a]


def add_mean_band(fig: go.Figure, x: np.ndarray, a: np.ndarray, *, name: str, col_: str, row: int = 1,
                  col: int = 1, dash: str = "solid", label: str = "", showlegend: bool = True,
                  legendgroup: str | None = None, fmt: str = ".4f") -> None:
    """Mean line over seeds with a min–max band behind it (band only with 2+ seeds)."""
    mean, lo, hi = stats(a)
    group = legendgroup or name
    if a.shape[0] > 1:
        ok = np.isfinite(lo) & np.isfinite(hi)
        if ok.any():
            xs, los, his = x[ok], lo[ok], hi[ok]
            fig.add_trace(go.Scatter(
                x=np.concatenate([xs, xs[::-1]]).tolist(), y=np.concatenate([his, los[::-1]]).tolist(),
                fill="toself", fillcolor=_rgba(col_, 0.18), line=dict(width=0), mode="lines",
                hoverinfo="skip", showlegend=False, legendgroup=group, name=f"{name} band",
                meta="band"), row=row, col=col)
    what = f"{label} " if label else ""
    spread = (f"<br>min %{{customdata[0]:{fmt}}} – max %{{customdata[1]:{fmt}}}"
              if a.shape[0] > 1 else "")
    fig.add_trace(go.Scatter(
        x=x.tolist(), y=_none(mean), mode="lines", name=name, legendgroup=group, showlegend=showlegend,
        line=dict(color=col_, dash=dash, width=2.5 if dash == "solid" else 1.8),
        customdata=np.stack([lo, hi], 1).tolist(),
        hovertemplate=f"{name} {what}%{{y:{fmt}}}{spread}<extra></extra>", meta="mean"), row=row, col=col)


def _style_legend(fig: go.Figure, name: str, dash: str, row: int = 1, col: int = 1) -> None:
    """A grey legend-only entry explaining a line style."""
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=name, line=dict(color="#777", dash=dash),
                             legendgroup=f"style-{name}", showlegend=True, hoverinfo="skip", meta="style"),
                  row=row, col=col)


def _layout(fig: go.Figure, title: str, height: int, font_size: int, unified: bool = True) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=font_size + 3)),
        height=height, font=dict(size=font_size), margin=dict(l=10, r=10, t=60, b=10),
        legend=dict(orientation="h", yanchor="top", y=-0.2, x=0, xanchor="left", font=dict(size=font_size)),
        hovermode="x unified" if unified else "closest",
    )
    return fig


def _empty(title: str, message: str, height: int = 300, font_size: int = 13) -> go.Figure:
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=font_size + 1))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return _layout(fig, title, height, font_size, unified=False)


def _epochs(r: RunResult) -> np.ndarray:
    return np.arange(r.epochs_done)


# ---------------------------------------------------------------- 1. learning curves
def learning_curves(obj, font_size: int = 13, height: int = 380) -> go.Figure:
    """Train (dashed) and validation (solid) loss and accuracy vs epoch, one colour per variant."""
    runs = _drawable(_runs(obj))
    title = "Learning curves"
    if not runs:
        return _empty(title, "No epochs measured yet.", height, font_size)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss (cross-entropy)", "accuracy"),
                        horizontal_spacing=0.08)
    for i, r in runs:
        x, c = _epochs(r), color(i)
        for col, metric in ((1, "loss"), (2, "acc")):
            add_mean_band(fig, x, r.curve(f"val_{metric}"), name=r.name, col_=c, col=col, label="val",
                          showlegend=col == 1, legendgroup=r.name)
            add_mean_band(fig, x, r.curve(f"train_{metric}"), name=r.name, col_=c, col=col, dash="dash",
                          label="train", showlegend=False, legendgroup=r.name)
    _style_legend(fig, "validation", "solid")
    _style_legend(fig, "train", "dash")
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="loss", row=1, col=1)
    fig.update_yaxes(title_text="accuracy", row=1, col=2)
    return _layout(fig, title, height, font_size)


# ---------------------------------------------------------------- 2. overfitting gap
def gap_chart(obj, font_size: int = 13, height: int = 340) -> go.Figure:
    runs = _drawable(_runs(obj))
    title = "Overfitting gap (validation worse than train)"
    if not runs:
        return _empty(title, "No epochs measured yet.", height, font_size)
    fig = make_subplots(rows=1, cols=2, subplot_titles=("loss gap = val loss − train loss",
                                                        "accuracy gap = train acc − val acc"),
                        horizontal_spacing=0.08)
    for i, r in runs:
        x, c = _epochs(r), color(i)
        add_mean_band(fig, x, r.curve("gap_loss"), name=r.name, col_=c, col=1, label="loss gap")
        add_mean_band(fig, x, r.curve("gap_acc"), name=r.name, col_=c, col=2, label="acc gap",
                      showlegend=False)
    for col in (1, 2):
        fig.add_hline(y=0, line=dict(color="#999", width=1), row=1, col=col)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="loss gap", row=1, col=1)
    fig.update_yaxes(title_text="accuracy gap", row=1, col=2)
    return _layout(fig, title, height, font_size)


# ---------------------------------------------------------------- 3. dead units
def _per_layer_figure(obj) -> tuple[list, list[int], go.Figure | None]:
    """(drawable runs, the hidden layers to show, one subplot per layer sharing the y axis);
    no runs -> ([], [], None)."""
    runs = _drawable(_runs(obj))
    if not runs:
        return [], [], None
    layers = pick_layers(max(r.layers for _, r in runs))
    fig = make_subplots(rows=1, cols=len(layers), subplot_titles=[f"hidden layer {k + 1}" for k in layers],
                        shared_yaxes=True, horizontal_spacing=0.04)
    return runs, layers, fig


def dead_units(obj, font_size: int = 13, height: int = 340) -> go.Figure:
    """Dead units per hidden layer vs epoch; plus 'negative' (leaky/elu/gelu/silu) and 'saturated'
    (tanh/sigmoid) where the activation makes them differ from dead."""
    title = "Dead units per hidden layer"
    runs, layers, fig = _per_layer_figure(obj)
    if not runs:
        return _empty(title, "No epochs measured yet.", height, font_size)
    extra = set()
    for i, r in runs:
        x, c, act = _epochs(r), color(i), r.config.activation
        for col, k in enumerate(layers, start=1):
            if k >= r.layers:
                continue
            add_mean_band(fig, x, r.curve("dead", k), name=r.name, col_=c, col=col, label="dead",
                          showlegend=col == 1, legendgroup=r.name, fmt=".1f")
            if act in NEGATIVE_ACTS:
                extra.add("negative")
                add_mean_band(fig, x, r.curve("negative", k), name=r.name, col_=c, col=col, dash="dot",
                              label="negative", showlegend=False, legendgroup=r.name, fmt=".1f")
            if act in SATURATING_ACTS:
                extra.add("saturated")
                add_mean_band(fig, x, r.curve("saturated", k), name=r.name, col_=c, col=col, dash="dashdot",
                              label="saturated", showlegend=False, legendgroup=r.name, fmt=".1f")
    if extra:
        _style_legend(fig, "dead", "solid")
        if "negative" in extra:
            _style_legend(fig, "negative on every input", "dot")
        if "saturated" in extra:
            _style_legend(fig, "saturated", "dashdot")
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="units", row=1, col=1, rangemode="tozero")
    return _layout(fig, title, height, font_size)


# ---------------------------------------------------------------- 4. where the zeros come from
def zero_sources(obj, font_size: int = 13, height: int = 360) -> go.Figure:
    """Final epoch, per hidden layer: share of outputs zeroed by the activation and, on top, by
    the dropout mask (train mode), with the eval-mode zero fraction as a diamond."""
    title = "Where the zeros come from (last epoch)"
    runs, layers, fig = _per_layer_figure(obj)
    if not runs:
        return _empty(title, "No epochs measured yet.", height, font_size)
    names = [r.name for _, r in runs]
    for col, k in enumerate(layers, start=1):
        act_v, drop_v, eval_v, cols, xs = [], [], [], [], []
        for i, r in runs:
            if k >= r.layers:
                continue
            xs.append(r.name)
            cols.append(color(i))
            act_v.append(float(stats(r.final("act_zero_frac_train")[:, k])[0]))
            drop_v.append(float(stats(r.final("dropout_zero_frac_train")[:, k])[0]))
            eval_v.append(float(stats(r.final("zero_frac")[:, k])[0]))
        first = col == 1
        fig.add_trace(go.Bar(x=xs, y=_none(np.array(act_v)), name="zeroed by the activation (train)",
                             marker=dict(color=cols), legendgroup="act", showlegend=first,
                             hovertemplate="%{x}<br>activation zeros %{y:.3f}<extra></extra>"), row=1, col=col)
        fig.add_trace(go.Bar(x=xs, y=_none(np.array(drop_v)), name="zeroed by dropout (train)",
                             marker=dict(color=[_rgba(c, 0.45) for c in cols],
                                         pattern=dict(shape="/", fgcolor="#333", size=6)),
                             legendgroup="drop", showlegend=first,
                             hovertemplate="%{x}<br>dropout zeros %{y:.3f}<extra></extra>"), row=1, col=col)
        fig.add_trace(go.Scatter(x=xs, y=_none(np.array(eval_v)), mode="markers", name="zeros at test time (eval)",
                                 marker=dict(symbol="diamond", size=12, color="#111", line=dict(color="#fff", width=1)),
                                 legendgroup="eval", showlegend=first,
                                 hovertemplate="%{x}<br>eval zeros %{y:.3f}<extra></extra>"), row=1, col=col)
    fig.update_layout(barmode="stack")
    fig.update_xaxes(categoryorder="array", categoryarray=names, tickangle=-20)
    fig.update_yaxes(title_text="fraction of unit outputs = 0", range=[0, 1.02], row=1, col=1)
    return _layout(fig, title, height, font_size, unified=False)


# ---------------------------------------------------------------- 5. mask stability
def mask_stability(obj, layer: int = 0, font_size: int = 13, height: int = 340) -> go.Figure:
    runs = _drawable(_runs(obj))
    title = f"Is the zero pattern fixed or re-drawn? (hidden layer {layer + 1})"
    if not runs:
        return _empty(title, "No epochs measured yet.", height, font_size)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.08, subplot_titles=(
        "agreement of two train passes (same input, same weights)", "on/off flips since the previous epoch"))
    for i, r in runs:
        k = min(layer, r.layers - 1)
        x, c = _epochs(r), color(i)
        add_mean_band(fig, x, r.curve("mask_agreement", k), name=r.name, col_=c, col=1, label="agreement")
        add_mean_band(fig, x, r.curve("mask_flip", k), name=r.name, col_=c, col=2, label="flips",
                      showlegend=False)
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="mask agreement", row=1, col=1)
    fig.update_yaxes(title_text="fraction flipped", row=1, col=2, rangemode="tozero")
    return _layout(fig, title, height, font_size)


# ---------------------------------------------------------------- 6. boundary / confusion
def _thin(x: np.ndarray, y: np.ndarray, most: int = MAX_POINTS) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= most:
        return x, y
    idx = np.linspace(0, len(x) - 1, most).astype(int)
    return x[idx], y[idx]


def _grid_shape(n: int) -> tuple[int, int]:
    return (1, n) if n <= 2 else (2, 2) if n <= 4 else ((n + 3) // 4, 4)


def boundary(obj, seed_index: int = 0, font_size: int = 13, height: int | None = None) -> go.Figure:
    """2-D data: class-1 probability (or predicted class for 3+ classes) of one seed's network,
    with train (circles) and validation (crosses) points; digits: the confusion matrix."""
    runs = _runs(obj)
    if any("confusion" in r.artifacts for r in runs):
        return confusion(runs, seed_index, font_size, height)
    title = f"Decision boundary (seed #{seed_index + 1})"
    if not runs:
        return _empty(title, "Nothing trained yet.", 300, font_size)
    nr, nc = _grid_shape(len(runs))
    height = height or (380 if nr == 1 else 620)
    fig = make_subplots(rows=nr, cols=nc, subplot_titles=[r.name for r in runs],
                        horizontal_spacing=0.05, vertical_spacing=0.12)
    legend_done = False
    for i, r in enumerate(runs):
        row, col = i // nc + 1, i % nc + 1
        art = r.artifacts.get("boundary")
        if art is None:
            xref = "x domain" if i == 0 else f"x{i + 1} domain"
            yref = "y domain" if i == 0 else f"y{i + 1} domain"
            fig.add_annotation(text="no picture: stopped before<br>this variant finished", x=0.5, y=0.5,
                               xref=xref, yref=yref, showarrow=False)
            continue
        s = min(seed_index, art["p1"].shape[0] - 1)
        pts = r.artifacts.get("points", {})
        n_classes = int(max(np.max(pts.get("y_train", [1])), np.max(pts.get("y_val", [1])))) + 1
        gx, gy = np.asarray(art["x"], float), np.asarray(art["y"], float)
        if n_classes <= 2:
            z = np.asarray(art["p1"][s], dtype=float)
            fig.add_trace(go.Heatmap(x=gx, y=gy, z=z, zmin=0, zmax=1, colorscale=PROB_SCALE,
                                     showscale=i == 0, colorbar=dict(title="P(class 1)", len=0.8),
                                     hovertemplate="x %{x:.2f}, y %{y:.2f}<br>P(class 1) %{z:.3f}<extra></extra>",
                                     name=f"{r.name} P(class 1)"), row=row, col=col)
            fig.add_trace(go.Contour(x=gx, y=gy, z=z, contours=dict(start=0.5, end=0.5, size=1, coloring="none"),
                                     line=dict(color="#111", width=2), showscale=False, hoverinfo="skip",
                                     showlegend=False, name=f"{r.name} boundary"), row=row, col=col)
        else:
            z = np.asarray(art["pred"][s], dtype=float)
            scale = []
            for c in range(n_classes):
                scale += [[c / n_classes, CLASS_COLORS[c % 10]], [(c + 1) / n_classes, CLASS_COLORS[c % 10]]]
            fig.add_trace(go.Heatmap(x=gx, y=gy, z=z, zmin=-0.5, zmax=n_classes - 0.5, colorscale=scale,
                                     opacity=0.35, showscale=False, name=f"{r.name} predicted class",
                                     hovertemplate="x %{x:.2f}, y %{y:.2f}<br>predicted class %{z}<extra></extra>"),
                          row=row, col=col)
        for kind, symbol, size in (("train", "circle", 6), ("val", "x", 6)):
            xs, ys = pts.get(f"x_{kind}"), pts.get(f"y_{kind}")
            if xs is None:
                continue
            xs, ys = _thin(np.asarray(xs), np.asarray(ys))
            for c in range(n_classes):
                m = ys == c
                if not m.any():
                    continue
                fig.add_trace(go.Scatter(
                    x=xs[m, 0].tolist(), y=xs[m, 1].tolist(), mode="markers",
                    name=f"class {c} ({'train' if kind == 'train' else 'validation'})",
                    legendgroup=f"{kind}{c}", showlegend=not legend_done,
                    marker=dict(symbol=symbol, size=size, color=CLASS_COLORS[c % 10],
                                line=dict(color="#fff", width=0.6) if kind == "train" else None),
                    hovertemplate=f"{kind} point, class {c}<br>(%{{x:.2f}}, %{{y:.2f}})<extra></extra>"),
                    row=row, col=col)
        legend_done = True
        fig.update_xaxes(range=[gx[0], gx[-1]], row=row, col=col, showticklabels=False)
        fig.update_yaxes(range=[gy[0], gy[-1]], row=row, col=col, showticklabels=False,
                         scaleanchor=None)
    return _layout(fig, title, height, font_size, unified=False)


def confusion(obj, seed_index: int = 0, font_size: int = 13, height: int | None = None) -> go.Figure:
    runs = _runs(obj)
    title = f"Confusion matrix on validation digits (seed #{seed_index + 1})"
    nr, nc = _grid_shape(len(runs))
    height = height or (400 if nr == 1 else 720)
    fig = make_subplots(rows=nr, cols=nc, subplot_titles=[r.name for r in runs],
                        horizontal_spacing=0.08, vertical_spacing=0.12)
    for i, r in enumerate(runs):
        row, col = i // nc + 1, i % nc + 1
        cm = r.artifacts.get("confusion")
        if cm is None:
            continue
        m = np.asarray(cm[min(seed_index, cm.shape[0] - 1)])
        labels = [str(k) for k in range(m.shape[0])]
        fig.add_trace(go.Heatmap(z=m.tolist(), x=labels, y=labels, colorscale="Blues", showscale=False,
                                 text=m.tolist(), texttemplate="%{text}",
                                 hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
                                 name=r.name), row=row, col=col)
        fig.update_xaxes(title_text="predicted", row=row, col=col)
        fig.update_yaxes(title_text="true", autorange="reversed", row=row, col=col)
    return _layout(fig, title, height, font_size, unified=False)


# ---------------------------------------------------------------- 7. on/off raster
PASSES = ("train pass 1", "train pass 2", "test time (eval)")


def raster(obj, layer: int = 0, seed_index: int = 0, font_size: int = 13, height: int | None = None) -> go.Figure:
    """On/off (output > 0) of up to 64 units (rows) for up to 48 training inputs (columns) of one
    hidden layer: two train-mode passes with the same weights, then the eval pass."""
    runs = _runs(obj)
    title = f"On/off pattern of hidden layer {layer + 1}: units × inputs (seed #{seed_index + 1})"
    if not runs:
        return _empty(title, "Nothing trained yet.", 300, font_size)
    titles = []
    data = []
    for r in runs:
        a = r.artifacts.get("raster")
        if a is None:
            data.append(None)
            titles += [f"{r.name}: {p}" if j == 0 else p for j, p in enumerate(PASSES)]
            continue
        a = np.asarray(a)
        s, k = min(seed_index, a.shape[0] - 1), min(layer, a.shape[1] - 1)
        passes = a[s, k]  # (3, P, U)
        agree = float((passes[0] == passes[1]).mean())
        data.append(passes)
        titles += [f"<b>{r.name}</b>: train pass 1", f"train pass 2 (agrees {agree:.0%})", PASSES[2]]
    fig = make_subplots(rows=len(runs), cols=3, subplot_titles=titles, horizontal_spacing=0.03,
                        vertical_spacing=0.12 / max(1, len(runs) - 1) + 0.04 if len(runs) > 1 else 0.1)
    for i, passes in enumerate(data):
        if passes is None:
            fig.add_annotation(text="no picture: stopped before this variant finished", showarrow=False,
                               x=0.5, y=0.5, xref=f"x{3 * i + 2} domain", yref=f"y{3 * i + 2} domain")
            continue
        for j in range(3):
            z = passes[j].T.astype(np.int8)  # rows: units, columns: inputs
            fig.add_trace(go.Heatmap(z=z.tolist(), zmin=0, zmax=1, showscale=False,
                                     colorscale=[[0, "#f4f4f4"], [0.5, "#f4f4f4"], [0.5, color(i)], [1, color(i)]],
                                     xgap=0.5, ygap=0.5, name=f"{runs[i].name} {PASSES[j]}",
                                     hovertemplate="input %{x}, unit %{y}: %{z}<extra>1 = on, 0 = zero</extra>"),
                          row=i + 1, col=j + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed")
    fig.update_xaxes(title_text="inputs →", row=len(runs), col=1)
    fig.update_yaxes(title_text="units", col=1)
    height = height or max(260, 190 * len(runs) + 90)
    return _layout(fig, title, height, font_size, unified=False)


# ---------------------------------------------------------------- tables and export
SUMMARY = (("val_acc", "val acc"), ("gap_acc", "acc gap"), ("gap_loss", "loss gap"),
           ("mask_agreement", "mask agree"), ("dead", "dead units"))


def summary_rows(obj) -> list[dict]:
    """Final numbers per variant (mean ± std over seeds), for the page's table. A 'status' column
    appears only when some variant did not finish normally."""
    runs = _runs(obj)
    show_status = any(r.status != "ok" for r in runs)
    out = []
    for r in runs:
        row: dict = {"variant": r.name}
        if show_status:
            row["status"] = f"{r.status} ({max(0, r.epochs_done - 1)} epochs)"
        for m, label in SUMMARY:
            if not r.epochs_done:
                row[label] = "–"
            elif m == "dead":
                row[label] = _pm(r.final("dead").sum(axis=1), ".1f")
            elif m == "mask_agreement":
                row[label] = _pm(r.final(m)[:, 0])
            else:
                row[label] = _pm(r.final(m))
        out.append(row)
    return out


def _pm(v: np.ndarray, fmt: str = ".3f") -> str:
    v = np.asarray(v, float)
    v = v[np.isfinite(v)]
    if not len(v):
        return "–"
    if len(v) == 1:
        return format(float(v[0]), fmt)
    return f"{format(float(v.mean()), fmt)} ± {format(float(v.std()), fmt)}"


def slug(text: str) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return s[:60].strip("-") or "chart"


def chart_config(name: str, title: str = "") -> dict:
    """plotly config: modebar on, camera button saves a PNG named after the experiment and chart."""
    filename = "-".join(p for p in ("relu-dropout-lab", slug(title)[:40] if title else "", slug(name)) if p)
    return {
        "displayModeBar": True,
        "displaylogo": False,
        "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"],
        "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2},
    }
