"""The first screen's chart: every variant's decision boundary in one short row, so that it fits
above the fold at 1366x768 beside the verdict strip. The same builder draws a finished run (its
final 80x80 boundary), a replayed epoch and a live snapshot (core/replay.py: 24x24, seed #1).
The full-size boundary chart with the validation points stays further down (charts/pictures.py).
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboard.charts.style import CLASS_COLORS, PROB_SCALE, empty, frame, plain, runs_of, wrap

STAGE_HEIGHT = 290
PANEL_CHARS = 12   # a panel title's line ("ReLU + dropout 0.5" takes two)
STAGE_POINTS = 240  # training points drawn per panel: the shape of the data, light to redraw live


def boundaries_row(obj, seed_index: int = 0, font_size: int = 13, note: str = "", height: int = STAGE_HEIGHT) -> go.Figure:
    """One panel per variant (up to four in a row): class-1 probability, the 0.5 line and the
    training points. `note` ends the title (e.g. "epoch 40 of 80")."""
    runs = runs_of(obj)
    # short, so it stays one line (style.wrap) and the row stays short on the first screen
    title = f"Boundaries, seed #{seed_index + 1}" + (f", {note}" if note else "")
    if not runs:
        return empty(title, "Nothing trained yet.", height, font_size)
    n = len(runs)
    cols = min(4, n)
    rows = -(-n // cols)
    # panel titles in short lines: four side by side fit a phone's width
    names = [wrap(plain(r.name), PANEL_CHARS) for r in runs]
    fig = make_subplots(rows=rows, cols=cols, subplot_titles=names,
                        horizontal_spacing=0.02, vertical_spacing=0.08)
    shown_legend = set()
    for i, r in enumerate(runs):
        row, col = i // cols + 1, i % cols + 1
        art = r.artifacts.get("boundary")
        if art is None:
            ref = "" if i == 0 else str(i + 1)
            fig.add_annotation(text="no picture yet", x=0.5, y=0.5, xref=f"x{ref} domain", yref=f"y{ref} domain",
                               showarrow=False)
            continue
        p1 = np.asarray(art["p1"])
        s = min(seed_index, p1.shape[0] - 1)
        gx, gy = np.asarray(art["x"], float), np.asarray(art["y"], float)
        z = p1[s].astype(float)
        fig.add_trace(go.Heatmap(x=gx, y=gy, z=z, zmin=0, zmax=1, colorscale=PROB_SCALE, showscale=False,
                                 hoverinfo="skip", name=f"{plain(r.name)} P(class 1)"), row=row, col=col)
        fig.add_trace(go.Contour(x=gx, y=gy, z=z, contours=dict(start=0.5, end=0.5, size=1, coloring="none"),
                                 line=dict(color="#111", width=2), showscale=False, hoverinfo="skip",
                                 showlegend=False, name=f"{plain(r.name)} boundary"), row=row, col=col)
        pts = r.artifacts.get("points", {})
        xs, ys = pts.get("x_train"), pts.get("y_train")
        if xs is not None:
            xs, ys = np.asarray(xs), np.asarray(ys)
            idx = np.linspace(0, len(xs) - 1, min(len(xs), STAGE_POINTS)).astype(int)
            for c in np.unique(ys[idx]).tolist():
                m = idx[ys[idx] == c]
                fig.add_trace(go.Scatter(x=xs[m, 0].tolist(), y=xs[m, 1].tolist(), mode="markers",
                                         name=f"class {c}", legendgroup=f"class{c}", showlegend=c not in shown_legend,
                                         marker=dict(size=4, color=CLASS_COLORS[c % 10], line=dict(color="#fff", width=0.4)),
                                         hoverinfo="skip"), row=row, col=col)
                shown_legend.add(c)
        fig.update_xaxes(range=[gx[0], gx[-1]], showticklabels=False, row=row, col=col)
        fig.update_yaxes(range=[gy[0], gy[-1]], showticklabels=False, row=row, col=col)
    frame(fig, title, height * rows, font_size, unified=False, panel_titles=True)
    # no legend: the class colours are the boundary chart's further down, which has one. The top
    # margin stays frame's: it holds the title's lines above the panels' titles.
    extra = max(n.count("<br>") for n in names) * (font_size + 1) * 1.3  # the panel titles' extra lines
    fig.update_layout(margin=dict(l=4, r=4, b=4, t=fig.layout.margin.t + round(extra)),
                      height=fig.layout.height + round(extra), showlegend=False)
    return fig
