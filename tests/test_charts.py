"""Chart builders, without Streamlit: traces, colours, bands, axis titles, and exact numbers."""
from __future__ import annotations

import numpy as np
import plotly.io as pio
import pytest

from core.config import validate
from core.results import Experiment, RunResult
from dashboard import charts

EPOCH_CHARTS = [charts.learning_curves, charts.gap_chart, charts.dead_units, charts.mask_stability]
ALL_CHARTS = [*EPOCH_CHARTS, charts.zero_sources, charts.boundary, charts.raster]


def _means(fig):
    return [t for t in fig.data if t.meta == "mean"]


def _bands(fig):
    return [t for t in fig.data if t.meta == "band"]


@pytest.mark.parametrize("build", ALL_CHARTS, ids=lambda f: f.__name__)
def test_every_chart_builds_and_serializes(build, tiny_experiment):
    fig = build(tiny_experiment)
    assert fig.data, "no traces"
    assert fig.layout.title.text
    pio.to_json(fig, validate=True)  # valid plotly, no NaN leaks into JSON


@pytest.mark.parametrize("build", EPOCH_CHARTS, ids=lambda f: f.__name__)
def test_one_colour_per_variant_and_bands(build, tiny_experiment):
    fig = build(tiny_experiment)
    by_variant: dict[str, set] = {}
    for t in _means(fig):
        by_variant.setdefault(t.legendgroup, set()).add(t.line.color)
    assert set(by_variant) == {"ReLU", "dropout"}
    assert all(len(c) == 1 for c in by_variant.values()), by_variant
    assert by_variant["ReLU"] != by_variant["dropout"]
    # 2 seeds -> every mean line has its band, in the variant's colour
    assert len(_bands(fig)) == len(_means(fig))
    for b in _bands(fig):
        assert b.fill == "toself"


def test_learning_curves_traces_and_axes(tiny_experiment):
    fig = charts.learning_curves(tiny_experiment)
    # 2 variants x (loss, acc) x (train, val) mean lines
    assert len(_means(fig)) == 8
    assert fig.layout.xaxis.title.text == "epoch"
    assert fig.layout.yaxis.title.text == "loss"
    assert fig.layout.yaxis2.title.text == "accuracy"
    assert len(_means(fig)[0].x) == tiny_experiment.runs[0].epochs_done  # epochs 0..3


def test_mean_and_band_values_are_exact():
    cfg = validate(epochs=2, seeds=2, depth=1)
    r = RunResult.empty(cfg, "hand", 1)
    r.metrics["val_acc"][:] = [[0.5, 0.6, 0.7], [0.7, 0.8, np.nan]]  # seed 2 diverged at epoch 2
    r.metrics["train_acc"][:] = [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]
    r.epochs_done = 3
    r.status = "ok"
    fig = charts.learning_curves([r])
    val = next(t for t in _means(fig) if "val" in t.hovertemplate and t.xaxis == "x2")
    assert np.allclose(val.y, [0.6, 0.7, 0.7])  # NaN seed left out of the mean
    band = next(t for t in _bands(fig) if t.xaxis == "x2" and max(t.y) > 0.55)
    # polygon: max over x, then min over x reversed
    assert np.allclose(band.y, [0.7, 0.8, 0.7, 0.7, 0.6, 0.5])
    assert np.allclose(band.x, [0, 1, 2, 2, 1, 0])


def test_single_seed_has_no_band():
    cfg = validate(epochs=1, seeds=1, depth=1)
    r = RunResult.empty(cfg, "one", 1)
    for m in r.metrics.values():
        m[:] = 0.25
    r.epochs_done, r.status = 2, "ok"
    fig = charts.gap_chart([r])
    assert not _bands(fig) and len(_means(fig)) == 2


def test_pending_and_stopped_runs_do_not_break_charts(tiny_experiment):
    cfg = tiny_experiment.runs[0].config
    pending = RunResult.empty(cfg, "never ran", cfg.depth)
    pending.status = "stopped"
    exp = Experiment(tiny_experiment.base, [*tiny_experiment.runs, pending])
    for build in ALL_CHARTS:
        pio.to_json(build(exp), validate=True)
    only_pending = Experiment(tiny_experiment.base, [pending])
    assert "No epochs" in charts.learning_curves(only_pending).layout.annotations[0].text


def test_zero_sources_stacks_activation_and_dropout(tiny_experiment):
    fig = charts.zero_sources(tiny_experiment)
    assert fig.layout.barmode == "stack"
    bars = [t for t in fig.data if t.type == "bar"]
    assert {b.name for b in bars} == {"zeroed by the activation (train)", "zeroed by dropout (train)"}
    drop = next(b for b in bars if "dropout" in b.name and b.xaxis == "x")
    relu_idx = list(drop.x).index("ReLU")
    assert drop.y[relu_idx] == pytest.approx(0.0)  # no dropout -> no dropout zeros
    assert drop.y[list(drop.x).index("dropout")] > 0.2


def test_dead_units_adds_negative_for_leaky(tiny_experiment):
    from core.train import run_experiment

    exp = run_experiment(tiny_experiment.base.replace(epochs=1, seeds=1), {"leaky": {"activation": "leaky_relu"}})
    fig = charts.dead_units(exp)
    assert any("negative" in t.hovertemplate for t in _means(fig))


def test_boundary_has_heatmap_and_points(tiny_experiment):
    fig = charts.boundary(tiny_experiment, seed_index=1)
    types = [t.type for t in fig.data]
    assert types.count("contour") == 2
    assert types.count("scatter") >= 4  # train and validation points of both classes


def test_confusion_for_digits(tiny_digits_experiment):
    fig = charts.boundary(tiny_digits_experiment)
    hm = [t for t in fig.data if t.type == "heatmap"]
    assert len(hm) == 1 and np.asarray(hm[0].z).shape == (10, 10)
    assert "Confusion" in fig.layout.title.text


def test_raster_two_train_passes_and_eval(tiny_experiment):
    fig = charts.raster(tiny_experiment, layer=1, seed_index=0)
    assert len([t for t in fig.data if t.type == "heatmap"]) == 3 * len(tiny_experiment.runs)
    titles = [a.text for a in fig.layout.annotations]
    assert any("agrees 100%" in t for t in titles)  # ReLU alone: the two passes are identical


def test_chart_config_png_button():
    cfg = charts.chart_config("learning-curves", "Does ReLU do what dropout does?")
    assert cfg["displayModeBar"] is True
    assert cfg["toImageButtonOptions"]["format"] == "png"
    assert cfg["toImageButtonOptions"]["filename"] == "relu-dropout-lab-does-relu-do-what-dropout-does-learning-curves"


def test_summary_rows(tiny_experiment):
    rows = charts.summary_rows(tiny_experiment)
    assert [r["variant"] for r in rows] == ["ReLU", "dropout"]
    assert "±" in rows[0]["val acc"] and "status" not in rows[0]


def test_charts_module_imports_pandas_before_any_thread_builds_a_figure():
    # plotly peeks at sys.modules for pandas and imports it lazily in to_json(): concurrent
    # sessions on a fresh server could see a half-imported pandas unless it is imported up front.
    import subprocess
    import sys
    code = "import sys, dashboard.charts; assert sys.modules['pandas'].Series; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert out.stdout.strip() == "ok", out.stderr
