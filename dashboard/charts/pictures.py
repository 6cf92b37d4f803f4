"""Pictures of the trained networks (from `RunResult.artifacts`, made once at the end of a run):
the decision boundary (2-D data), the confusion matrix (digits) and the on/off raster of one
hidden layer. Each takes an `Experiment` or a list of runs and returns a plotly Figure."""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts.style import (
    CLASS_COLORS,
    PROB_SCALE,
    empty,
    frame,
    plain,
    runs_of,
    shown_epochs,
    variant_colors,
    whose_pictures,
)

MAX_POINTS = 600  # points drawn per set in the boundary chart: enough to see, light to send


# ---------------------------------------------------------------- boundary / confusion
def _thin(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if len(x) <= MAX_POINTS:
        return x, y
    idx = np.linspace(0, len(x) - 1, MAX_POINTS).astype(int)
    return x[idx], y[idx]


def _panel_per_variant(runs: list, spacing: float) -> tuple[go.Figure, list[tuple[int, int]], bool]:
    """One panel per variant titled with its name, up to four to a row: (figure, each run's
    (row, col), whether they fit in one row)."""
    n = len(runs)
    nr, nc = (1, n) if n <= 2 else (2, 2) if n <= 4 else ((n + 3) // 4, 4)
    fig = make_subplots(rows=nr, cols=nc, subplot_titles=[plain(r.name) for r in runs],
                        horizontal_spacing=spacing, vertical_spacing=0.12)
    return fig, [(i // nc + 1, i % nc + 1) for i in range(n)], nr == 1


def boundary(obj, seed_index: int = 0, font_size: int = 13) -> go.Figure:
    """2-D data: class-1 probability (or predicted class for 3+ classes) of one seed's network,
    with train (circles) and validation (crosses) points."""
    runs = runs_of(obj)
    title = f"Decision boundary ({whose_pictures(runs, seed_index)})"
    if not runs:
        return empty(title, "Nothing trained yet.", 300, font_size)
    fig, cells, one_row = _panel_per_variant(runs, 0.05)
    legend_done = False
    for i, (r, (row, col)) in enumerate(zip(runs, cells, strict=True)):
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
                                     name=f"{plain(r.name)} P(class 1)"), row=row, col=col)
            fig.add_trace(go.Contour(x=gx, y=gy, z=z, contours=dict(start=0.5, end=0.5, size=1, coloring="none"),
                                     line=dict(color="#111", width=2), showscale=False, hoverinfo="skip",
                                     showlegend=False, name=f"{plain(r.name)} boundary"), row=row, col=col)
        else:
            z = np.asarray(art["pred"][s], dtype=float)
            scale = []
            for c in range(n_classes):
                scale += [[c / n_classes, CLASS_COLORS[c % 10]], [(c + 1) / n_classes, CLASS_COLORS[c % 10]]]
            fig.add_trace(go.Heatmap(x=gx, y=gy, z=z, zmin=-0.5, zmax=n_classes - 0.5, colorscale=scale,
                                     opacity=0.35, showscale=False, name=f"{plain(r.name)} predicted class",
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
    return frame(fig, title, 380 if one_row else 620, font_size, unified=False, panel_titles=True)


def confusion(obj, seed_index: int = 0, font_size: int = 13) -> go.Figure:
    """Digits: true against predicted class on the validation set, one seed's network per variant."""
    runs = runs_of(obj)
    title = f"Confusion matrix on validation digits (seed #{seed_index + 1})"
    if not runs:
        return empty(title, "Nothing trained yet.", 300, font_size)
    fig, cells, one_row = _panel_per_variant(runs, 0.08)
    for r, (row, col) in zip(runs, cells, strict=True):
        cm = r.artifacts.get("confusion")
        if cm is None:
            continue
        m = np.asarray(cm[min(seed_index, cm.shape[0] - 1)])
        labels = [str(k) for k in range(m.shape[0])]
        fig.add_trace(go.Heatmap(z=m.tolist(), x=labels, y=labels, colorscale="Blues", showscale=False,
                                 text=m.tolist(), texttemplate="%{text}",
                                 hovertemplate="true %{y}, predicted %{x}: %{z}<extra></extra>",
                                 name=plain(r.name)), row=row, col=col)
        # every digit named: plotly reads "0".."9" as numbers and ticked only 0, 5 (x) and 0, 2, 4 (y)
        fig.update_xaxes(title_text="predicted", tick0=0, dtick=1, row=row, col=col)
        fig.update_yaxes(title_text="true", autorange="reversed", tick0=0, dtick=1, row=row, col=col)
    return frame(fig, title, 400 if one_row else 720, font_size, unified=False, panel_titles=True)


# ---------------------------------------------------------------- on/off raster
PASSES = ("train pass 1", "train pass 2", "test time (eval)")
OFF = "#c8c8c8"  # grey: output ≤ 0 (off); white is only the thin gap between cells
ROW_PX = 150  # one variant's row of three pictures
HEAD_PX = 22  # above a row: the variant's name and how far its two train passes agree
FOOT_PX = 24  # below a row: the three passes' names


def raster(obj, layer: int = 0, seed_index: int = 0, font_size: int = 13) -> go.Figure:
    """On/off (output > 0) of up to 64 units (rows) for up to 48 training inputs (columns) of one
    hidden layer: two train-mode passes with the same weights, then the eval pass. One row of
    three pictures per variant, headed by its name and the share of cells on which its two train
    passes agree; the passes are named under each picture."""
    runs = runs_of(obj)
    # two lines at most (a third sat on the first row's title): a stopped run's epoch takes the
    # place of "units × inputs", which the axis titles say too
    what = "" if shown_epochs(runs) else ": units × inputs"
    title = f"On/off pattern of hidden layer {layer + 1}{what} ({whose_pictures(runs, seed_index)})"
    if not runs:
        return empty(title, "Nothing trained yet.", 300, font_size)
    heads, data = [], []
    for r in runs:
        a = r.artifacts.get("raster")
        if a is None:
            data.append(None)
            heads.append(f"<b>{plain(r.name)}</b>")
            continue
        a = np.asarray(a)
        s, k = min(seed_index, a.shape[0] - 1), min(layer, a.shape[1] - 1)
        passes = a[s, k]  # (3, P, U)
        agree = float((passes[0] == passes[1]).mean())
        data.append(passes)
        heads.append(f"<b>{plain(r.name)}</b>: train passes agree on {agree:.0%}")
    n = len(runs)
    gap_px = HEAD_PX + FOOT_PX + 10
    plot_px = n * ROW_PX + (n - 1) * gap_px
    fig = make_subplots(rows=n, cols=3, horizontal_spacing=0.03,
                        vertical_spacing=gap_px / plot_px if n > 1 else 0.1)
    cols = variant_colors([r.name for r in runs])
    for i, passes in enumerate(data):
        row_top = fig.get_subplot(i + 1, 1).yaxis.domain[1]
        fig.add_annotation(text=heads[i], x=0, xref="paper", xanchor="left", y=row_top, yref="paper",
                           yanchor="bottom", yshift=2, showarrow=False, align="left", name="row-title")
        if passes is None:
            fig.add_annotation(text="no picture: stopped before this variant finished", showarrow=False,
                               x=0.5, y=0.5, xref=f"x{3 * i + 2} domain", yref=f"y{3 * i + 2} domain")
            continue
        for j in range(3):
            z = passes[j].T.astype(np.int8)  # rows: units, columns: inputs
            fig.add_trace(go.Heatmap(z=z.tolist(), zmin=0, zmax=1, showscale=False,
                                     colorscale=[[0, OFF], [0.5, OFF], [0.5, cols[i]], [1, cols[i]]],
                                     xgap=0.5, ygap=0.5, name=f"{plain(runs[i].name)} {PASSES[j]}",
                                     hovertemplate="input %{x}, unit %{y}: %{z}<extra>1 = on (> 0), 0 = off (≤ 0)</extra>"),
                          row=i + 1, col=j + 1)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False, autorange="reversed")
    for i in range(n):
        for j, name in enumerate(PASSES):
            fig.update_xaxes(title_text=name, row=i + 1, col=j + 1)
    fig.update_yaxes(title_text="units", col=1)
    fig = frame(fig, title, plot_px + 100, font_size, unified=False, panel_titles=True)
    fig.update_annotations(selector=dict(name="row-title"), font_size=font_size)
    return fig
