"""The chart registry (dashboard.charts.CHARTS): every chart builds for its data, has a caption
and an alt text, gets the picks it reads, and the page lays them out two per row."""
from __future__ import annotations

import copy

import numpy as np
import plotly.io as pio
import pytest

from core.results import Experiment, RunResult
from dashboard import charts, text


def _experiment_for(chart: charts.Chart, request) -> Experiment:
    return request.getfixturevalue("tiny_digits_experiment" if chart.data == "digits" else "tiny_experiment")


@pytest.mark.parametrize("name", list(charts.CHARTS))
def test_every_chart_builds_and_serializes(name, request):
    c = charts.CHARTS[name]
    fig = c.figure(_experiment_for(c, request), layer=1, seed=1)
    assert fig.data, "no traces"
    assert fig.layout.title.text
    pio.to_json(fig, validate=True)  # valid plotly, no NaN leaks into JSON


def test_every_chart_has_its_caption_and_every_caption_its_chart():
    assert set(text.CAPTIONS) == set(charts.CHARTS)
    for c in charts.CHARTS.values():
        assert text.CAPTIONS[c.name].startswith("Look for:")
        assert c.alt and c.alt != c.name


def test_names_are_file_stems_and_needs_are_known():
    for name, c in charts.CHARTS.items():
        assert c.name == name == charts.slug(name)  # the PNG's file name, unchanged by slug()
        assert set(c.needs) <= set(charts.PICKERS), c
        assert c.data in (None, *charts.DATA), c


def test_each_kind_of_data_gets_its_picture(tiny_experiment, tiny_digits_experiment):
    assert charts.data_kind(tiny_experiment) == "2d"
    assert charts.data_kind(tiny_digits_experiment) == "digits"
    points = [c.name for c in charts.shown(tiny_experiment)]
    digits = [c.name for c in charts.shown(tiny_digits_experiment)]
    assert "boundary" in points and "confusion" not in points
    assert "confusion" in digits and "boundary" not in digits
    # Everything else is drawn for both, in the registry's order.
    order = list(charts.CHARTS)
    assert points == [n for n in order if n != "confusion"]
    assert digits == [n for n in order if n != "boundary"]


def test_confusion_for_digits(tiny_digits_experiment):
    (c,) = [c for c in charts.shown(tiny_digits_experiment) if c.data == "digits"]
    fig = c.figure(tiny_digits_experiment)
    hm = [t for t in fig.data if t.type == "heatmap"]
    assert len(hm) == 1 and np.asarray(hm[0].z).shape == (10, 10)
    assert "Confusion" in fig.layout.title.text
    # every digit has its tick on both axes (the walk of 2026-11-30 saw 0, 5 and 0, 2, 4, 6, 8 only)
    axes = [fig.layout[k] for k in fig.layout if k.startswith(("xaxis", "yaxis"))]
    assert axes and all((a.tick0, a.dtick) == (0, 1) for a in axes)


def test_figure_passes_only_the_picks_a_chart_reads(tiny_experiment):
    # The pickers are 0-based; the titles count from 1.
    mask = charts.CHARTS["mask-stability"].figure(tiny_experiment, layer=1, seed=1)
    assert "hidden layer 2" in mask.layout.title.text
    boundary = charts.CHARTS["boundary"].figure(tiny_experiment, layer=1, seed=1)
    assert "seed #2" in boundary.layout.title.text
    raster = charts.CHARTS["on-off-raster"].figure(tiny_experiment, layer=1, seed=0)
    assert "hidden layer 2" in raster.layout.title.text and "seed #1" in raster.layout.title.text
    curves = charts.CHARTS["learning-curves"].figure(tiny_experiment, layer=1, seed=1)  # reads neither
    assert curves.layout.title.text == "Learning curves"


def test_page_rows_pair_charts_and_give_wide_ones_a_row():
    shown = charts.charts_for("2d")
    rows = charts.page_rows(shown)
    assert [c for row in rows for c in row] == shown  # nothing lost, nothing reordered
    for row in rows[:-1]:
        assert len(row) == 2 or (len(row) == 1 and row[0].wide), row
    a, b, c = (charts.Chart(n, charts.learning_curves, n + " chart") for n in "abc")
    wide = charts.Chart("w", charts.raster, "wide chart", wide=True)
    assert charts.page_rows([a, wide, b, c]) == [[a], [wide], [b, c]]
    assert charts.page_rows([a, b, c]) == [[a, b], [c]]


def test_overlays_draw_runs_from_several_experiments(tiny_experiment):
    # History passes a list of renamed runs, not an Experiment.
    runs = []
    for i, r in enumerate(tiny_experiment.runs):
        rr = copy.copy(r)
        rr.name = f"#{i + 1} {r.name}"
        runs.append(rr)
    overlays = charts.overlays()
    assert overlays and all(c.data is None and not c.wide for c in overlays)
    for c in overlays:
        fig = c.figure(runs)
        assert {t.legendgroup for t in fig.data if t.meta == "mean"} == {r.name for r in runs}
        pio.to_json(fig, validate=True)


def test_pending_and_stopped_runs_do_not_break_charts(tiny_experiment):
    cfg = tiny_experiment.runs[0].config
    pending = RunResult.empty(cfg, "never ran", cfg.depth)
    pending.status = "stopped"
    exp = Experiment(tiny_experiment.base, [*tiny_experiment.runs, pending])
    only_pending = Experiment(tiny_experiment.base, [pending])
    for c in charts.CHARTS.values():
        pio.to_json(c.figure(exp), validate=True)
        pio.to_json(c.figure(only_pending), validate=True)
        pio.to_json(c.figure([]), validate=True)
    assert "No epochs" in charts.learning_curves(only_pending).layout.annotations[0].text


HOSTILE = ('<a href="https://evil.example/x">CLICK ME</a>', '<span style="font-size:90px">%{y}</span><br>&amp;')


def _strings(node) -> list[str]:
    """Every text in a figure's JSON: names, titles, annotations, hover templates, categories."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [s for v in node.values() for s in _strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in _strings(v)]
    return []


@pytest.mark.parametrize("name", list(charts.CHARTS))
def test_variant_names_enter_every_chart_as_plain_text(name, request):
    """A stored run from before names were checked (or a name typed into a link then) is drawn
    as the characters it is: no link, no styling, no hover-template field."""
    import json

    from dashboard.charts.style import plain

    c = charts.CHARTS[name]
    exp = copy.deepcopy(_experiment_for(c, request))
    for r, hostile in zip(exp.runs, HOSTILE, strict=False):
        r.name = hostile
    texts = _strings(json.loads(pio.to_json(c.figure(exp, layer=1, seed=1))))
    joined = "\n".join(texts)
    for marker in ("<a href", "<span", "</a>", "90px\">%{y}", "90px\"&gt;%{y}"):  # the name's %{y}: no data
        assert marker not in joined, (name, marker)
    assert any(plain(exp.runs[0].name) in t for t in texts), name  # the name is there, escaped
