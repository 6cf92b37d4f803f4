"""Charts of a sweep: each main metric against the swept value, one line per value of a second
swept setting, the mean over seeds with its 95% confidence band. Pure: a summary table in
(core.sweep.SweepResult.summary(): one row per point and metric with mean, lo, hi, n), plotly
Figures out; no Streamlit.

The x axis is the first swept field: a category axis for words (activation, optimizer, …), a
log axis for a log grid (lr, weight decay, width in powers of two; a 0 in such a grid, "off",
is drawn a decade below the smallest other value and labelled 0), else linear. Colours follow
the rest of the charts (style.color), in the order of the second field's values, except where a
value is by itself one of the Lab's variants (activation relu is the Lab's "ReLU", linear its
"linear"): that line takes the Lab's colour, so the same network has the same colour on both pages.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from core.config import FIELD
from dashboard.charts.style import FIXED_COLORS, PALETTE, color, empty, frame, gaps, plain, rgba

# Fields whose grids are drawn on a log axis whatever their spread (the schema's log fields and
# the ones the page offers log grids for); other numeric grids go log when they span 50× or more.
LOG_FIELDS = ("lr", "weight_decay", "width", "batch_size", "n_samples")
LOG_SPAN = 50.0
HEIGHT = 360
TITLE_PAD = 34  # px above the title: the height of plotly's modebar
NO_POINTS = "No point of the sweep has been measured yet."


def is_numeric(field: str) -> bool:
    f = FIELD.get(field)
    return f is not None and f.type in (int, float) and f.choices is None


def _num(v) -> float:
    return float(v)


def log_axis(field: str, values: Sequence) -> bool:
    """Whether `field`'s grid `values` is drawn on a log axis (see the module docstring)."""
    if not is_numeric(field):
        return False
    xs = sorted({_num(v) for v in values})
    pos = [v for v in xs if v > 0]
    if len(pos) < 2 or any(v < 0 for v in xs):
        return False
    return field in LOG_FIELDS or FIELD[field].log or pos[-1] / pos[0] >= LOG_SPAN


def x_positions(field: str, values: Sequence) -> tuple[dict, dict]:
    """(value -> x position, axis settings) for the grid `values` of the swept `field`."""
    uniq = list(dict.fromkeys(values))
    if not is_numeric(field):
        labels = [_label(v) for v in uniq]
        return ({v: lab for v, lab in zip(uniq, labels, strict=True)},
                dict(type="category", categoryorder="array", categoryarray=labels))
    if log_axis(field, uniq):
        pos = sorted(_num(v) for v in uniq if _num(v) > 0)
        zero_at = pos[0] / 10  # "off" a decade below the smallest value, labelled 0
        where = {v: (_num(v) if _num(v) > 0 else zero_at) for v in uniq}
        ticks = sorted(set(where.values()))
        text = ["0" if t == zero_at and any(_num(v) == 0 for v in uniq) else f"{t:g}" for t in ticks]
        return where, dict(type="log", tickmode="array", tickvals=ticks, ticktext=text)
    where = {v: _num(v) for v in uniq}
    return where, dict(type="linear")


def _label(v) -> str:
    if isinstance(v, bool):
        return "on" if v else "off"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def field_label(field: str) -> str:
    return field.replace("_", " ")


# Second-field values that are, alone, a variant of the Lab's presets: (field, value) -> its name.
LAB_NAMES = {("activation", "relu"): "ReLU", ("activation", "linear"): "linear"}


def line_colors(line_field: str | None, values: Sequence) -> list[str]:
    """A colour per line: the Lab's colour for a value that is one of its variants (LAB_NAMES),
    the palette in order for the rest, skipping colours those already hold (no two lines alike
    while the palette lasts)."""
    fixed = [FIXED_COLORS.get(LAB_NAMES.get((line_field, v), "")) for v in values]
    free = iter([c for c in PALETTE if c not in fixed] or PALETTE)
    return [f or next(free, color(i)) for i, f in enumerate(fixed)]


def metric_chart(summary: pd.DataFrame, metric: str, x_field: str, line_field: str | None = None, *,
                 title: str = "", y_label: str = "", font_size: int = 13) -> go.Figure:
    """One metric against the swept value `x_field`: per value of `line_field` (None: one line)
    the mean over seeds, with the 95% confidence band (lo..hi) behind it, in the order the grid
    gives. Hover shows the mean, the interval and how many seeds it rests on."""
    title = plain(title or metric)
    rows = summary[summary["metric"] == metric] if len(summary) else summary
    if not len(rows) or not np.isfinite(rows["mean"].to_numpy(float)).any():
        return empty(title, NO_POINTS, HEIGHT, font_size)
    where, axis = x_positions(x_field, rows[x_field].tolist())
    groups = list(dict.fromkeys(rows[line_field])) if line_field else [None]
    fig = go.Figure()
    for g, c in zip(groups, line_colors(line_field, groups), strict=True):
        part = rows if g is None else rows[rows[line_field] == g]
        x = [where[v] for v in part[x_field]]
        mean, lo, hi = (part[k].to_numpy(float) for k in ("mean", "lo", "hi"))
        n = part["n"].to_numpy(float) if "n" in part else np.full(len(part), np.nan)
        name = plain(f"{field_label(line_field)} {_label(g)}") if line_field else plain(title)
        ok = np.isfinite(lo) & np.isfinite(hi)
        if ok.any():
            xs = [xv for xv, k in zip(x, ok, strict=True) if k]
            fig.add_trace(go.Scatter(
                x=xs + xs[::-1], y=hi[ok].tolist() + lo[ok][::-1].tolist(), fill="toself",
                fillcolor=rgba(c, 0.18), line=dict(width=0), mode="lines", hoverinfo="skip", showlegend=False,
                legendgroup=name, name=f"{name} 95% CI", meta="band"))
        fig.add_trace(go.Scatter(
            x=x, y=gaps(mean), mode="lines+markers", name=name, legendgroup=name, showlegend=bool(line_field),
            line=dict(color=c, width=2.5), marker=dict(size=7, color=c),
            customdata=np.stack([lo, hi, n], 1).tolist(),
            hovertemplate=(f"{name}<br>{plain(field_label(x_field))} %{{x}}<br>mean %{{y:.4f}}"
                           "<br>95% CI %{customdata[0]:.4f} – %{customdata[1]:.4f} (n %{customdata[2]:.0f})"
                           "<extra></extra>"),
            meta="mean"))
    frame(fig, title, HEIGHT, font_size, unified=False)
    # The title under the modebar's row, not beside it: on a phone (390 px) the two would overlap.
    fig.update_layout(title=dict(yref="container", y=1, yanchor="top", pad=dict(t=TITLE_PAD)),
                      margin=dict(t=TITLE_PAD + 2 * font_size + 24))
    fig.update_xaxes(title_text=plain(field_label(x_field)), **axis)
    fig.update_yaxes(title_text=plain(y_label or metric))
    return fig


def sweep_charts(summary: pd.DataFrame, grid: Mapping[str, Sequence], metrics: Mapping[str, str], *,
                 font_size: int = 13) -> list[tuple[str, go.Figure]]:
    """(metric, figure) for each of `metrics` (name -> label), against the first field of `grid`,
    one line per value of its second field (further fields, if any, must be fixed by the caller:
    the summary is filtered to their first value so every line is one point per x)."""
    fields = list(grid)
    if not fields:
        return []
    x_field = fields[0]
    line_field = fields[1] if len(fields) > 1 else None
    for extra in fields[2:]:
        summary = summary[summary[extra] == grid[extra][0]]
    out = []
    for metric, label in metrics.items():
        out.append((metric, metric_chart(summary, metric, x_field, line_field, title=label, y_label=label,
                                         font_size=font_size)))
    return out


def pretty(values: Sequence) -> str:
    """A grid's values as the page writes them back into its text box and the URL."""
    return ",".join(_label(v) if not isinstance(v, bool) else ("true" if v else "false") for v in values)


__all__ = ["HEIGHT", "LOG_FIELDS", "field_label", "is_numeric", "log_axis", "metric_chart",
           "pretty", "sweep_charts", "x_positions"]
