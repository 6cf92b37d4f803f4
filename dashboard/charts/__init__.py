"""The Lab's charts, as one table: each chart's name, builder, alt text and what it needs.

Builders are pure functions (results in, plotly Figure out, no Streamlit): curves.py draws the
numbers measured every epoch, pictures.py the trained networks, style.py holds what they share.
The pages draw `CHARTS` in order, two per row (a wide chart takes a row to itself); nothing else
lists charts. Adding a chart: its builder, its row below, its caption in dashboard/text.py
CAPTIONS under the same name, and its test.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import plotly.graph_objects as go

from core.results import Experiment
from dashboard.charts.curves import dead_units, gap_chart, learning_curves, mask_stability, zero_sources
from dashboard.charts.pictures import boundary, confusion, raster
from dashboard.charts.style import chart_config, slug
from dashboard.charts.summary import summary_rows

__all__ = ["CHARTS", "Chart", "boundary", "chart_config", "charts_for", "confusion", "data_kind", "dead_units",
           "gap_chart", "learning_curves", "mask_stability", "overlays", "page_rows", "raster", "shown", "slug",
           "summary_rows", "zero_sources"]

PICKERS = ("layer", "seed")  # the page's pickers a chart may read: hidden layer, seed shown
DATA = ("2d", "digits")  # 2-D points (a boundary can be drawn) or digit images


@dataclass(frozen=True)
class Chart:
    name: str  # file stem of its PNG, and the key of its caption in text.CAPTIONS
    build: Callable[..., go.Figure] = field(repr=False)  # (obj, [layer], [seed_index], font_size)
    alt: str  # what it shows, for screen readers
    needs: tuple[str, ...] = ()  # of PICKERS
    data: str | None = None  # of DATA: drawn only for that kind of data; None: for any
    wide: bool = False  # a page row to itself (else half of one)
    overlay: bool = False  # also on History, over runs of several experiments (per-epoch numbers only)

    def figure(self, obj, *, layer: int = 0, seed: int = 0, font_size: int = 13) -> go.Figure:
        """The figure for an Experiment or a list of runs, with the picks this chart reads."""
        picks: dict[str, int] = {}
        if "layer" in self.needs:
            picks["layer"] = layer
        if "seed" in self.needs:
            picks["seed_index"] = seed
        return self.build(obj, font_size=font_size, **picks)


# Page order: the first row is what a visitor sees first.
CHARTS: dict[str, Chart] = {c.name: c for c in (
    Chart("learning-curves", learning_curves, "Loss and accuracy per epoch, train and validation, per variant",
          overlay=True),
    Chart("boundary", boundary, "Decision boundary of each variant with the data points", ("seed",), data="2d"),
    Chart("confusion", confusion, "Confusion matrices", ("seed",), data="digits"),
    Chart("mask-stability", mask_stability, "Mask agreement and mask flips per epoch", ("layer",), overlay=True),
    Chart("zero-sources", zero_sources, "Share of zeros from the activation and from dropout per layer"),
    Chart("overfitting-gap", gap_chart, "Overfitting gap per epoch", overlay=True),
    Chart("dead-units", dead_units, "Dead units per hidden layer per epoch", overlay=True),
    Chart("on-off-raster", raster, "On/off pattern of units for two train passes and the eval pass",
          ("layer", "seed"), wide=True),
)}


def data_kind(exp: Experiment) -> str:
    """Which of DATA an experiment was trained on, from the pictures its runs made."""
    return "digits" if any("confusion" in r.artifacts for r in exp.runs) else "2d"


def charts_for(kind: str) -> list[Chart]:
    """The Lab's charts for one kind of data, in page order."""
    return [c for c in CHARTS.values() if c.data in (None, kind)]


def shown(exp: Experiment) -> list[Chart]:
    """The charts the Lab draws for this experiment, in page order."""
    return charts_for(data_kind(exp))


def overlays() -> list[Chart]:
    """The charts History draws over runs picked from several experiments."""
    return [c for c in CHARTS.values() if c.overlay]


def page_rows(charts: Sequence[Chart]) -> list[list[Chart]]:
    """Charts in order, two per row; a wide chart takes a row to itself."""
    rows: list[list[Chart]] = []
    half: list[Chart] = []
    for c in charts:
        if c.wide:
            if half:
                rows.append(half)
                half = []
            rows.append([c])
            continue
        half.append(c)
        if len(half) == 2:
            rows.append(half)
            half = []
    if half:
        rows.append(half)
    return rows
