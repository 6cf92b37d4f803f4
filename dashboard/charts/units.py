"""The network, unit by unit (TF-Playground style): input -> hidden units -> output, each a small
heatmap over the input plane, for one variant and one seed (from `artifacts["units"]`,
core/units.py).

Two rows: the eval pass (dropout off) and one train-mode pass (dropout on: a dropped unit is a
black square for the whole plane, and the layers after it compute without it). A ReLU unit is a
half-plane in the first layer (0 on one side of its line, rising on the other), a dead one is
blank. Each unit is coloured on its own scale (shared by its two passes), so its shape shows
whatever its size. At most `core.units.MAX_UNITS` units per layer (the first ones) and
`MAX_LAYERS_DRAWN` layers are drawn; the headers say how many of how many.

Each pass is one heatmap of all the tiles side by side (a mosaic with gaps), not one subplot per
unit: 70 small subplots cost seconds to lay out in the browser, a mosaic is one trace.
"""
from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.results import Experiment, RunResult
from dashboard.charts.style import empty, frame, plain, runs_of, wrap

MAX_LAYERS_DRAWN = 4
NOTE_CHARS = 48  # a line of the note under the picture: fits a phone's width at the small font
UNIT_SCALE = [[0.0, "#2166ac"], [0.5, "#ffffff"], [1.0, "#e66100"]]  # below 0 blue, 0 white (blank), above orange
DROPPED = "#111111"
PASSES = ("eval pass (dropout off, as after training)", "one train-mode pass (dropout on: black = dropped unit)")


def default_variant(obj) -> int:
    """The variant whose picture shows the most: ReLU with dropout, else any dropout, else the first."""
    runs = runs_of(obj)
    for want in (lambda c: c.activation == "relu" and c.dropout > 0, lambda c: c.dropout > 0):
        for i, r in enumerate(runs):
            if want(r.config) and "units" in r.artifacts:
                return i
    return 0


def _grid_shape(n: int) -> tuple[int, int]:
    cols = max(1, math.ceil(math.sqrt(n)))
    return math.ceil(n / cols), cols


class _Mosaic:
    """Tiles (G x G maps, row 0 at the top) placed in blocks left to right, blocks centred vertically."""

    def __init__(self, G: int, blocks: list[tuple[int, int]]):  # each block: (rows, cols) of tiles
        self.G, self.gap, self.block_gap = G, max(2, G // 8), G
        self.heights = [r * G + (r - 1) * self.gap for r, _ in blocks]
        self.widths = [c * G + (c - 1) * self.gap for _, c in blocks]
        self.H = max(self.heights)
        self.x0 = np.cumsum([0] + [w + self.block_gap for w in self.widths[:-1]]).tolist()
        self.W = self.x0[-1] + self.widths[-1]
        self.z = np.full((self.H, self.W), np.nan)
        self.black = np.full((self.H, self.W), np.nan)
        self.blocks = blocks

    def put(self, block: int, i: int, tile: np.ndarray, dropped: bool = False, size: int = 1) -> None:
        rows, cols = self.blocks[block]
        r, c = divmod(i, cols)
        top = (self.H - self.heights[block]) // 2 + r * (self.G + self.gap)
        left = self.x0[block] + c * (self.G + self.gap)
        S = self.G * size
        self.z[top: top + S, left: left + S] = np.kron(tile, np.ones((size, size))) if size > 1 else tile
        if dropped:
            self.black[top: top + S, left: left + S] = 1.0

    def centre_x(self, block: int) -> float:
        return self.x0[block] + self.widths[block] / 2


def _tiles(q: np.ndarray, G: int) -> np.ndarray:
    """int8 maps (U, G*G) with rows in y order -> (U, G, G) in [-1, 1], row 0 at the top."""
    return (np.asarray(q, np.float32) / 127.0).reshape(-1, G, G)[:, ::-1, :]


def network(obj: Experiment | list[RunResult], seed_index: int = 0, variant: int = 0, font_size: int = 13) -> go.Figure:
    """The picture of one variant's network (see the module's doc)."""
    runs = runs_of(obj)
    if not runs:
        return empty("The network, unit by unit", "Nothing trained yet.", 300, font_size)
    r = runs[min(variant, len(runs) - 1)]
    art = r.artifacts.get("units")
    title = f"The network unit by unit: {plain(r.name)}"
    if art is None:
        return empty(title, "No unit pictures: they are drawn for 2-D data, once a variant has trained.", 300, font_size)
    s = min(seed_index, np.asarray(art["eval"]).shape[0] - 1)
    seed_note = f"seed #{s + 1}" if np.asarray(art["eval"]).shape[0] > 1 else "seed #1"
    x, y = np.asarray(art["x"], float), np.asarray(art["y"], float)
    G = len(x)
    ev, tr, kept = np.asarray(art["eval"])[s], np.asarray(art["train"])[s], np.asarray(art["kept"])[s]
    L, U = ev.shape[0], ev.shape[1]
    shown = list(range(min(L, MAX_LAYERS_DRAWN)))
    width = int(art.get("width") or U)
    blocks = [(2, 1)] + [_grid_shape(U) for _ in shown] + [(2, 2)]  # input: x1 over x2; output: a 2x2 tile
    fig = make_subplots(rows=2, cols=1, subplot_titles=PASSES, vertical_spacing=0.1)
    ramp_x = np.tile(x / max(1e-9, np.abs(x).max()), (G, 1))
    ramp_y = np.tile((y / max(1e-9, np.abs(y).max()))[::-1, None], (1, G))
    for row, (maps, out, is_train) in enumerate(((ev, art["out_eval"], False), (tr, art["out_train"], True)), start=1):
        m = _Mosaic(G, blocks)
        m.put(0, 0, ramp_x)
        m.put(0, 1, ramp_y)
        for b, layer in enumerate(shown, start=1):
            for u, tile in enumerate(_tiles(maps[layer], G)):
                m.put(b, u, tile, dropped=is_train and not bool(kept[layer, u]))
        p1 = np.asarray(out[s], np.float32).reshape(G, G)[::-1, :] / 255.0
        m.put(len(blocks) - 1, 0, 2 * p1 - 1, size=2)
        fig.add_trace(go.Heatmap(z=m.z, zmin=-1, zmax=1, colorscale=UNIT_SCALE, showscale=False, hoverinfo="skip",
                                 name=f"units, {'train' if is_train else 'eval'} pass"), row=row, col=1)
        n_dropped = int(np.isfinite(m.black).sum()) // (G * G)
        fig.add_trace(go.Heatmap(z=m.black, zmin=0, zmax=1, colorscale=[[0, DROPPED], [1, DROPPED]],
                                 showscale=False, hoverinfo="skip", name=f"dropped units ({n_dropped})"),
                      row=row, col=1)
        if row == 2:  # layer names under the lower row: the rows' titles are above them
            # two short lines each: side by side they fit a phone's width
            heads = ["input<br>x₁, x₂"] + [f"hidden {k + 1}<br>{min(U, width)} of {width}" for k in shown] + ["output"]
            for b, h in enumerate(heads):
                fig.add_annotation(text=h, x=m.centre_x(b), y=m.H + 1, xref="x2", yref="y2", yanchor="top",
                                   showarrow=False, font=dict(size=font_size - 1))
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_yaxes(scaleanchor="x2", row=2, col=1)
    more = f"; layers 1–{MAX_LAYERS_DRAWN} of {L}" if L > MAX_LAYERS_DRAWN else ""
    note = (f"{seed_note}; each unit on its own scale: white = 0, orange > 0, blue < 0; "
            f"the first {min(U, width)} units of each layer{more}")
    note = wrap(note, NOTE_CHARS)
    heads_px = 2 * (font_size + 2) + 6  # the layer names' two lines under the lower row
    fig.add_annotation(text=note, x=0, y=0, yshift=-heads_px, xref="paper", yref="paper", yanchor="top",
                       xanchor="left", align="left", showarrow=False, font=dict(size=font_size - 2, color="#555"))
    frame(fig, title, 480, font_size, unified=False, panel_titles=True)  # its top margin holds the title
    note_px = (note.count("<br>") + 1) * (font_size + 1) * 1.3
    fig.update_layout(margin=dict(l=10, r=10, b=round(heads_px + note_px + 10)), plot_bgcolor="#ffffff")
    return fig
