"""What every chart shares: colours, the mean-and-band line over seeds, the figure frame, the
empty placeholder and the export settings of the camera button. No Streamlit.

Conventions every builder follows:

* one colour per variant *name* (`variant_colors`): the presets' names have fixed colours, any
  other name a colour picked by a stable hash, so a name looks the same in every preset, page
  and History overlay; class colours (the boundary's points) are none of them;
* lines that lie on top of each other stay visible (`separate_overlaps`): dashed over a wider
  line, and labelled "lines overlap" where they end;
* an axis fits its quantity: fractions and agreements run from 0 to 1 with a little margin;
* over seeds: a mean line plus a min–max band (drawn only with 2+ seeds); a diverged seed's
  NaNs are left out of the mean; hover on the mean line shows the exact mean, min and max;
* a variant that has not produced a value yet (pending, or stopped before it ran) is skipped,
  and pictures a stopped variant never made (boundary, raster) say so instead of failing;
* every user-given text (a variant name) enters a figure through `plain`: plotly renders a
  subset of HTML in names, titles and hover text, and a name must show as the text it is.
"""
from __future__ import annotations

import hashlib
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

# Okabe–Ito without its yellow (too pale for a line on white) and black (the reference lines and
# the boundary's contour are near-black): distinguishable for the common colour-vision
# deficiencies and on a projector; a brown as the seventh.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#8C564B")
# Every preset's variant names, with a colour each: distinct within each preset, and a name that
# recurs (ReLU in relu-vs-dropout, linear-is-not-enough and digits-cnn) keeps it everywhere.
FIXED_COLORS = {
    "ReLU": "#0072B2", "ReLU + dropout 0.5": "#D55E00", "linear + dropout 0.5": "#009E73", "linear": "#CC79A7",
    "ReLU, lr 0.1": "#0072B2", "leaky ReLU, lr 0.1": "#E69F00", "ReLU, lr 0.003": "#56B4E9",
    "no dropout": "#0072B2", "dropout 0.5": "#D55E00",
    "plain": "#0072B2", "weight decay 0.01": "#E69F00", "dropout + weight decay": "#8C564B",
    "ReLU + dropout 0.3": "#D55E00",
}
# Class colours of the boundary's points (Paul Tol's indigo and magenta first): each at least 25
# CIELAB units from every variant colour, so a point never reads as a variant's line.
CLASS_COLORS = ("#332288", "#EE3377", "#999933", "#00CCCC", "#661100", "#225522", "#FF00FF", "#555555",
                "#BBBBBB", "#222255")
PROB_SCALE = [[0, "#d6d3ec"], [0.5, "#f7f7f7"], [1, "#f9d3df"]]  # pale class 0 / class 1, so the points stay visible
MAX_LAYERS = 4  # layer panels per chart; deeper nets show the first two and the last two


_PLOTLY_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "{": "&#123;", "}": "&#125;"})


def plain(text: str) -> str:
    """`text` for a plotly label (trace name, title, annotation, hover template), shown as typed.

    plotly turns `<a href>`, `<span style>`, `<br>`, `<b>` in labels into links and styling, and
    replaces `%{...}` in hover templates by data; escaped, they are drawn as the characters they
    are (plotly decodes the entities, numeric ones included, when it draws the text)."""
    return str(text).translate(_PLOTLY_ESCAPES)


def color(i: int) -> str:
    """The i-th palette colour (for charts that colour by position, not by variant name)."""
    return PALETTE[i % len(PALETTE)]


_RUN_LABEL = re.compile(r"^#\d+ ")  # History labels a run "#<run> <variant>"; names never start with "#"


def name_key(name: str) -> str:
    """The variant name a label stands for: History's "#3 ReLU" is ReLU."""
    return _RUN_LABEL.sub("", str(name), count=1)


def name_color(name: str) -> str:
    """The colour of a variant name: fixed for the presets' names, else a stable hash of the name
    into the palette (the same on every server and in every process, unlike hash())."""
    key = name_key(name)
    if key in FIXED_COLORS:
        return FIXED_COLORS[key]
    return PALETTE[int(hashlib.sha1(key.encode()).hexdigest(), 16) % len(PALETTE)]


def shade(hex_color: str, k: int) -> str:
    """The k-th shade of a colour (k = 0: itself; then darker, lighter, darker still, ...): the
    same hue for the same name, drawn more than once in one chart (History overlays)."""
    if k == 0:
        return hex_color
    h = hex_color.lstrip("#")
    rgb = [int(h[j: j + 2], 16) for j in (0, 2, 4)]
    step = (k + 1) // 2 * 0.3
    mix = [v * (1 - step) for v in rgb] if k % 2 else [v + (255 - v) * step for v in rgb]
    return "#" + "".join(f"{round(min(255.0, max(0.0, v))):02x}" for v in mix)


def variant_colors(names: Sequence[str]) -> list[str]:
    """One colour per entry of `names`, by name (`name_color`). A name shown twice (History: the
    same variant from two runs) gets shades of its colour. Two different names whose hashes meet
    in one chart: the later one takes the next palette colour no name of the chart holds, so a
    chart never draws two names in one colour (with more names than colours they must repeat)."""
    keys = [name_key(n) for n in names]
    chosen: dict[str, str] = {k: FIXED_COLORS[k] for k in keys if k in FIXED_COLORS}
    for k in keys:
        if k in chosen:
            continue
        c = name_color(k)
        held = set(chosen.values())
        if c in held and len(held) < len(PALETTE):
            start = PALETTE.index(c)
            c = next(PALETTE[(start + j) % len(PALETTE)] for j in range(1, len(PALETTE))
                     if PALETTE[(start + j) % len(PALETTE)] not in held)
        chosen[k] = c
    seen: dict[str, int] = {}
    out = []
    for k in keys:
        out.append(shade(chosen[k], seen.get(k, 0)))
        seen[k] = seen.get(k, 0) + 1
    return out


def rgba(hex_color: str, alpha: float) -> str:
    h = hex_color.lstrip("#")
    r, g, b = (int(h[k: k + 2], 16) for k in (0, 2, 4))
    return f"rgba({r},{g},{b},{alpha})"


def runs_of(obj: Experiment | Sequence[RunResult]) -> list[RunResult]:
    """Builders take an Experiment (the Lab) or a list of runs (History overlays several)."""
    return list(obj.runs) if isinstance(obj, Experiment) else list(obj)


def shown_epochs(runs: Sequence[RunResult]) -> list[int]:
    """The epochs of the pictures of runs stopped before their final ones, which show their last
    snapshot's (dashboard.state.with_last_pictures); empty for runs with their own pictures."""
    return sorted({int(r.artifacts["shown_epoch"]) for r in runs if "shown_epoch" in r.artifacts})


def whose_pictures(runs: Sequence[RunResult], seed_index: int) -> str:
    """Which network a picture shows: "seed #2"; for a run stopped before its final pictures,
    whose pictures are its last snapshot's (seed #1 only), seed #1 and their epoch, which may be
    before the last one its curves show."""
    shown = shown_epochs(runs)
    if not shown:
        return f"seed #{seed_index + 1}"
    return f"seed #1, epoch {', '.join(map(str, shown))}"  # short: the title must not wrap onto the panels


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
                  legendgroup: str | None = None, fmt: str = ".4f", of: str = "") -> None:
    """Mean line over seeds with a min–max band behind it (band only with 2+ seeds), in the
    subplot of column `col` (the charts have one row of panels). `of`: the denominator of a count,
    shown after each number in the hover ("52.3 of 128")."""
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
    per = f" of {plain(of)}" if of else ""
    spread = (f"<br>min %{{customdata[0]:{fmt}}} – max %{{customdata[1]:{fmt}}}{per}"
              if a.shape[0] > 1 else "")
    fig.add_trace(go.Scatter(
        x=x.tolist(), y=gaps(mean), mode="lines", name=name, legendgroup=group, showlegend=showlegend,
        line=dict(color=col_, dash=dash, width=2.5 if dash == "solid" else 1.8),
        customdata=np.stack([lo, hi], 1).tolist(),
        hovertemplate=f"{name} {what}%{{y:{fmt}}}{per}{spread}<extra></extra>", meta="mean"), row=1, col=col)


def style_legend(fig: go.Figure, name: str, dash: str) -> None:
    """A grey legend-only entry explaining a line style."""
    fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=name, line=dict(color="#777", dash=dash),
                             legendgroup=f"style-{name}", showlegend=True, hoverinfo="skip", meta="style"),
                  row=1, col=1)


TITLE_CHARS = 34  # a chart title's line: fits a 390 px phone screen at the seminar font


def wrap(text: str, width: int = TITLE_CHARS) -> str:
    """Break a title into lines of at most `width` characters at spaces (plotly never wraps)."""
    lines: list[str] = []
    for word in text.split(" "):
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return "<br>".join(lines)


def frame(fig: go.Figure, title: str, height: int, font_size: int, unified: bool = True,
          panel_titles: bool = False) -> go.Figure:
    """Title, size, margins and the legend below the plot: the same for every chart.

    The title is wrapped to fit a phone's width and gets a top margin of its own lines (plus one
    line for the panels' titles, if any), so it never sits on them. The legend hangs from the
    bottom of the figure (container coordinates) and plotly grows the bottom margin to hold it,
    however many rows it wraps into, so it never sits on the x axis title. Axis titles and tick
    labels push the margins (automargin) rather than being cut off."""
    text = wrap(title)
    lines = text.count("<br>") + 1
    line_px = (font_size + 3) * 1.3  # plotly's line spacing
    # below the title: the panels' titles, or half a tick label (the top one is centred on the edge)
    top = round(lines * line_px + (font_size * 1.6 if panel_titles else font_size * 0.6) + 14)
    total = height + top - 30
    # plotly anchors a title's *last* line at y: the first one sits (lines - 1) lines above it.
    fig.update_layout(
        title=dict(text=text, x=0, xanchor="left", font=dict(size=font_size + 3),
                   yref="container", y=1 - (6 + (lines - 1) * line_px) / total, yanchor="top"),
        height=total, font=dict(size=font_size), margin=dict(l=10, r=10, t=top, b=10),
        legend=dict(orientation="h", yref="container", yanchor="bottom", y=0, x=0, xanchor="left",
                    font=dict(size=font_size)),
        hovermode="x unified" if unified else "closest",
    )
    fig.update_annotations(font_size=font_size)  # panel titles: the body size, not larger
    fig.update_xaxes(automargin=True, title_standoff=4)
    fig.update_yaxes(automargin=True, title_standoff=4)
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
    """plotly config: the modebar shows when the pointer is over a chart (always shown, it covered
    the titles of narrow charts); its camera button saves a PNG named after the experiment and chart."""
    filename = "-".join(p for p in ("relu-dropout-lab", slug(title)[:40] if title else "", slug(name)) if p)
    return {
        "displayModeBar": "hover",
        "displaylogo": False,
        "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"],
        "toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2},
    }


# ---------------------------------------------------------------- axes that fit their quantity
def _panel_values(fig: go.Figure, yaxis: str) -> np.ndarray:
    """Every finite y value drawn against one y axis ("y", "y2", ...)."""
    vals = [np.asarray([v for v in (t.y or ()) if v is not None], float) for t in fig.data
            if (t.yaxis or "y") == yaxis and t.y is not None]
    vals = [v[np.isfinite(v)] for v in vals]
    return np.concatenate(vals) if vals else np.array([])


def fit_fraction(fig: go.Figure, col: int = 1, *, lo: float = 0.0, hi: float = 1.0, min_span: float = 0.1,
                 whole: bool = False) -> list[float]:
    """Fit the y axis of panel `col` to a quantity bounded by [lo, hi] (a fraction, an agreement,
    an accuracy): the data's extent with a little margin, never beyond the bounds by more than
    3% of them (plotly's autorange puts a constant 1.0 on an axis from 0 to 2), and at least
    `min_span` tall. whole: the whole [lo, hi] with the margin. Returns the range set."""
    margin = 0.03 * (hi - lo)
    v = _panel_values(fig, "y" if col == 1 else f"y{col}")
    if whole or not len(v):
        a, b = lo - margin, hi + margin
    else:
        d_lo, d_hi = float(v.min()), float(v.max())
        pad = 0.08 * max(d_hi - d_lo, min_span)
        a, b = max(lo - margin, d_lo - pad), min(hi + margin, d_hi + pad)
        if b - a < min_span:  # a flat line: room above it first, then below, within the bounds
            b = min(hi + margin, a + min_span)
            a = min(a, max(lo - margin, b - min_span))
    fig.update_yaxes(range=[a, b], autorange=False, row=1, col=col)
    return [a, b]


def fit_count(fig: go.Figure, col: int = 1, shared: bool = False) -> list[float]:
    """A count's y axis: from 0 to a little above the largest value drawn (at least 1).
    shared: the panels share this axis, so it must hold every panel's values."""
    if shared:
        names = {t.yaxis or "y" for t in fig.data}
        v = np.concatenate([_panel_values(fig, n) for n in names]) if names else np.array([])
    else:
        v = _panel_values(fig, "y" if col == 1 else f"y{col}")
    top = max(1.0, float(v.max()) if len(v) else 1.0) * 1.08
    fig.update_yaxes(range=[-0.02 * top, top], autorange=False, row=1, col=col)
    return [-0.02 * top, top]


# ---------------------------------------------------------------- lines on top of each other
OVERLAP_DASHES = ("solid", "dash", "dot", "dashdot", "longdash")


def _same_line(a, b, tol: float) -> bool:
    """Two traces' y agree within tol at every x both have a finite value for (and share one)."""
    ya = {x: y for x, y in zip(a.x, a.y, strict=False) if y is not None and np.isfinite(y)}
    shared = [(ya[x], y) for x, y in zip(b.x, b.y, strict=False) if x in ya and y is not None and np.isfinite(y)]
    return bool(shared) and all(abs(p - q) <= tol for p, q in shared)


def separate_overlaps(fig: go.Figure, tol: float) -> list[list[str]]:
    """Keep lines that lie on top of each other visible. Among the solid mean lines of one panel,
    lines that agree within `tol` at every epoch (ReLU's and linear's mask agreement, both 1.0)
    form a group: its first line stays solid and is drawn wider, each later one narrower and with
    a dash pattern of its own, so every colour shows; the legend says which lines overlap and a
    label marks where they end. Returns the groups found (lists of legend names)."""
    groups: list[list[str]] = []
    labelled: set[tuple[str, ...]] = set()  # one "lines overlap" label per group and chart
    panels: dict[tuple[str, str], list] = {}
    for t in fig.data:
        if t.meta == "mean" and (t.line.dash in (None, "solid")):
            panels.setdefault((t.xaxis or "x", t.yaxis or "y"), []).append(t)
    for (xa, ya), lines in panels.items():
        left = list(lines)
        while left:
            first, rest = left[0], left[1:]
            group = [first] + [t for t in rest if _same_line(first, t, tol)]
            left = [t for t in rest if t not in group]
            if len(group) < 2:
                continue
            n = len(group)
            for m, t in enumerate(group):
                t.line.dash = OVERLAP_DASHES[m % len(OVERLAP_DASHES)]
                t.line.width = 2.0 + 2.5 * (n - 1 - m)
            names = [t.name for t in group]
            groups.append(names)
            xs = [x for x, y in zip(first.x, first.y, strict=False) if y is not None]
            if xs and tuple(names) not in labelled:
                labelled.add(tuple(names))
                y = [v for v in first.y if v is not None][-1]
                axis = fig.layout["yaxis" + ya[1:]]
                if axis.range is None and axis.matches:  # a shared axis: the range is its leader's
                    axis = fig.layout["yaxis" + axis.matches[1:]]
                rng = axis.range
                below = rng is None or y > (rng[0] + rng[1]) / 2  # the label inside the plot
                fig.add_annotation(text=f"{n} lines overlap", x=xs[-1], y=y, xref=xa, yref=ya,
                                   xanchor="right", yanchor="top" if below else "bottom", showarrow=False,
                                   yshift=-5 if below else 5, font=dict(color="#444"), name="overlap")
    for names in groups:
        label = "overlap: " + " = ".join(names)
        if any(t.meta == "overlap" and t.name == label for t in fig.data):
            continue
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=label, showlegend=True,
                                 hoverinfo="skip", line=dict(color="#777", dash="dash", width=2),
                                 legendgroup=f"overlap-{label}", meta="overlap"))
    return groups
