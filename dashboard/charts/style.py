"""What every chart shares: colours, the mean-and-band line over seeds, the figure frame, the
empty placeholder and the export settings of the camera button. No Streamlit.

Conventions every builder follows:

* one colour per variant, in the order given (`color(i)`), the same in every chart;
* over seeds: a mean line plus a min–max band (drawn only with 2+ seeds); a diverged seed's
  NaNs are left out of the mean; hover on the mean line shows the exact mean, min and max;
* a variant that has not produced a value yet (pending, or stopped before it ran) is skipped,
  and pictures a stopped variant never made (boundary, raster) say so instead of failing;
* every user-given text (a variant name) enters a figure through `plain`: plotly renders a
  subset of HTML in names, titles and hover text, and a name must show as the text it is.
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

from core.results import Experiment, RunResult

# Okabe–Ito: distinguishable for the common colour-vision deficiencies and on a projector.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
CLASS_COLORS = ("#1f4e9c", "#c0392b", "#2e8b57", "#8e44ad", "#d35400", "#7f8c8d", "#16a085",
                "#b7950b", "#2c3e50", "#e84393")
PROB_SCALE = [[0, "#c6dbef"], [0.5, "#f7f7f7"], [1, "#f4c1b0"]]  # pale, so the points stay visible
MAX_LAYERS = 4  # layer panels per chart; deeper nets show the first two and the last two


_PLOTLY_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "{": "&#123;", "}": "&#125;"})


def plain(text: str) -> str:
    """`text` for a plotly label (trace name, title, annotation, hover template), shown as typed.

    plotly turns `<a href>`, `<span style>`, `<br>`, `<b>` in labels into links and styling, and
    replaces `%{...}` in hover templates by data; escaped, they are drawn as the characters they
    are (plotly decodes the entities, numeric ones included, when it draws the text)."""
    return str(text).translate(_PLOTLY_ESCAPES)


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[k: k + 2], 16) for k in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def runs_of(obj: Experiment | Sequence[RunResult]) -> list[RunResult]:
    """Builders take an Experiment (the Lab) or a list of runs (History overlays several)."""
    return list(obj.runs) if isinstance(obj, Experiment) else list(obj)


def drawable(runs: list[RunResult]) -> list[tuple[int, RunResult]]:
    """(colour index, run) for the runs that have measured at least one epoch."""
    return [(i, r) for i, r in enumerate(runs) if r.epochs_done > 0]


def epochs(r: RunResult) -> np.ndarray:
    """The epoch of each measured row (a thinned view keeps some epochs only: core.serve.thin)."""
    return np.arange(r.epochs_done) if r.epoch_numbers is None else np.asarray(r.epoch_numbers[: r.epochs_done])


def stats(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, min and max over seeds (axis 0), ignoring NaN; all-NaN columns stay NaN."""
    a = np.asarray(a, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slices: NaN is the right answer
        return np.nanmean(a, 0), np.nanmin(a, 0), np.nanmax(a, 0)


def pick_layers(n: int) -> list[int]:
    if n <= MAX_LAYERS:
        return list(range(n))
    return [0, 1, n - 2, n - 1]


def gaps(a: np.ndarray) -> list:
    """NaN -> None, so plotly leaves a gap and JSON stays valid."""
    return [None if not np.isfinite(v) else float(v) for v in a]


def add_mean_band(fig: go.Figure, x: np.ndarray, a: np.ndarray, *, name: str, col_: str, col: int = 1,
                  dash: str = "solid", label: str = "", showlegend: bool = True,
                  legendgroup: str | None = None, fmt: str = ".4f") -> None:
    """Mean line over seeds with a min–max band behind it (band only with 2+ seeds), in the
    subplot of column `col` (the charts have one row of panels)."""
    mean, lo, hi = stats(a)
    group = plain(legendgroup or name)  # never drawn, but kept free of markup like all the figure's text
    name = plain(name)
    if a.shape[0] > 1:
        ok = np.isfinite(lo) & np.isfinite(hi)
        if ok.any():
            xs, los, his = x[ok], lo[ok], hi[ok]
            fig.add_trace(go.Scatter(
                x=np.concatenate([xs, xs[::-1]]).tolist(), y=np.concatenate([his, los[::-1]]).tolist(),
                fill="toself", fillcolor=rgba(col_, 0.18), line=dict(width=0), mode="lines",
                hoverinfo="skip", showlegend=False, legendgroup=group, name=f"{name} band",
                meta="band"), row=1, col=col)
    what = f"{label} " if label else ""
    spread = (f"<br>min %{{customdata[0]:{fmt}}} – max %{{customdata[1]:{fmt}}}"
              if a.shape[0] > 1 else "")
    fig.add_trace(go.Scatter(
        x=x.tolist(), y=gaps(mean), mode="lines", name=name, legendgroup=group, showlegend=showlegend,
        line=dict(color=col_, dash=dash, width=2.5 if dash == "solid" else 1.8),
        customdata=np.stack([lo, hi], 1).tolist(),
        hovertemplate=f"{name} {what}%{{y:{fmt}}}{spread}<extra></extra>", meta="mean"), row=1, col=col)


def style_legend(fig: go.Figure, name: str, dash: str) -> None:
    """A grey legend-only entry explaining a line style."""
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=name, line=dict(color="#777", dash=dash),
                             legendgroup=f"style-{name}", showlegend=True, hoverinfo="skip", meta="style"),
                  row=1, col=1)


def frame(fig: go.Figure, title: str, height: int, font_size: int, unified: bool = True) -> go.Figure:
    """Title, size, margins and the legend below the plot: the same for every chart."""
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=font_size + 3)),
        height=height, font=dict(size=font_size), margin=dict(l=10, r=10, t=60, b=10),
        legend=dict(orientation="h", yanchor="top", y=-0.2, x=0, xanchor="left", font=dict(size=font_size)),
        hovermode="x unified" if unified else "closest",
    )
    return fig


def empty(title: str, message: str, height: int, font_size: int) -> go.Figure:
    """A titled chart with one line of text instead of data (nothing measured yet)."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=font_size + 1))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return frame(fig, title, height, font_size, unified=False)


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
