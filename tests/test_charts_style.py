"""What every chart shares (dashboard/charts/style.py): exact mean and band over seeds, layer
picking, colours, the PNG button, and pandas imported up front."""
from __future__ import annotations

import numpy as np

from core.config import validate
from core.results import RunResult
from dashboard.charts import curves, style


def _means(fig):
    return [t for t in fig.data if t.meta == "mean"]


def _bands(fig):
    return [t for t in fig.data if t.meta == "band"]


def test_mean_and_band_values_are_exact():
    cfg = validate(epochs=2, seeds=2, depth=1)
    r = RunResult.empty(cfg, "hand", 1)
    r.metrics["val_acc"][:] = [[0.5, 0.6, 0.7], [0.7, 0.8, np.nan]]  # seed 2 diverged at epoch 2
    r.metrics["train_acc"][:] = [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]
    r.epochs_done = 3
    r.status = "ok"
    fig = curves.learning_curves([r])
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
    fig = curves.gap_chart([r])
    assert not _bands(fig) and len(_means(fig)) == 2


def test_pick_layers_shows_the_first_two_and_last_two_of_deep_nets():
    assert style.pick_layers(3) == [0, 1, 2]
    assert style.pick_layers(style.MAX_LAYERS) == list(range(style.MAX_LAYERS))
    assert style.pick_layers(9) == [0, 1, 7, 8]


def test_colours_cycle_and_fade():
    assert style.color(0) == style.color(len(style.PALETTE)) != style.color(1)
    assert style.rgba("#0072B2", 0.5) == "rgba(0,114,178,0.5)"


def test_chart_config_png_button():
    cfg = style.chart_config("learning-curves", "Does ReLU do what dropout does?")
    assert cfg["displayModeBar"] is True
    assert cfg["toImageButtonOptions"]["format"] == "png"
    assert cfg["toImageButtonOptions"]["filename"] == "relu-dropout-lab-does-relu-do-what-dropout-does-learning-curves"


def test_charts_module_imports_pandas_before_any_thread_builds_a_figure():
    # plotly peeks at sys.modules for pandas and imports it lazily in to_json(): concurrent
    # sessions on a fresh server could see a half-imported pandas unless it is imported up front.
    import subprocess
    import sys
    code = "import sys, dashboard.charts; assert sys.modules['pandas'].Series; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=str(__import__("pathlib").Path(__file__).resolve().parents[1]))
    assert out.stdout.strip() == "ok", out.stderr


def test_plain_escapes_what_plotly_would_render_as_markup():
    assert style.plain('<a href="https://evil.example/x">CLICK ME</a>') == \
        '&lt;a href="https://evil.example/x"&gt;CLICK ME&lt;/a&gt;'
    assert style.plain("<br>&amp;%{y}") == "&lt;br&gt;&amp;amp;%&#123;y&#125;"
    assert style.plain("ReLU + dropout 0.5 (2)") == "ReLU + dropout 0.5 (2)"  # every valid name is unchanged


def test_a_hostile_name_is_text_in_the_legend_and_the_hover():
    cfg = validate(epochs=1, seeds=2, depth=1)
    r = RunResult.empty(cfg, '<span style="font-size:90px">%{y}</span>', 1)
    r.metrics["val_acc"][:] = 0.5
    r.epochs_done, r.status = 2, "ok"
    fig = curves.learning_curves([r])
    mean = _means(fig)[0]
    assert mean.name == "&lt;span style=\"font-size:90px\"&gt;%&#123;y&#125;&lt;/span&gt;"
    assert mean.hovertemplate.startswith(mean.name + " ")  # the template's own %{y:...} follows the name
