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
    assert cfg["displayModeBar"] == "hover"  # not over the titles of narrow charts until wanted
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


# ---------------------------------------------------------------- one colour per variant name
def _cielab(hex_color: str) -> tuple[float, float, float]:
    """sRGB hex -> CIELAB (D65), written out here as an independent check of 'distinct'."""
    h = hex_color.lstrip("#")
    lin = []
    for j in (0, 2, 4):
        c = int(h[j: j + 2], 16) / 255
        lin.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    r, g, b = lin
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t):
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116
    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def _delta_e(a: str, b: str) -> float:
    return sum((p - q) ** 2 for p, q in zip(_cielab(a), _cielab(b), strict=True)) ** 0.5


def _preset_variants() -> dict[str, list[str]]:
    from core.presets import PRESETS
    return {n: list(p.variants) for n, p in PRESETS.items()}


def test_every_preset_variant_has_a_fixed_colour_distinct_within_its_preset():
    for preset, names in _preset_variants().items():
        cols = style.variant_colors(names)
        assert all(n in style.FIXED_COLORS for n in names), preset
        assert len(set(cols)) == len(names), (preset, cols)


def test_the_same_name_has_the_same_colour_in_two_presets_and_in_the_history_overlay(tiny_experiment):
    import copy

    presets = _preset_variants()
    assert "ReLU" in presets["relu-vs-dropout"] and "ReLU" in presets["digits-cnn"]
    first = style.variant_colors(presets["relu-vs-dropout"])[presets["relu-vs-dropout"].index("ReLU")]
    second = style.variant_colors(presets["digits-cnn"])[presets["digits-cnn"].index("ReLU")]
    assert first == second == "#0072B2"
    # In the figures: ReLU drawn alone, second of two, and in History's overlay as "#7 ReLU".
    a = copy.copy(tiny_experiment.runs[0])
    a.name = "ReLU"
    b = copy.copy(tiny_experiment.runs[1])
    b.name = "linear"
    overlay = copy.copy(a)
    overlay.name = "#7 ReLU"
    for runs in ([a], [b, a], [overlay, b]):
        fig = curves.learning_curves(runs)
        relu = {t.line.color for t in _means(fig) if t.name.endswith("ReLU")}
        assert relu == {"#0072B2"}, runs
    # The raster and the zero-source bars use the same colour for it.
    from dashboard.charts import pictures
    heat = [t for t in pictures.raster([b, a]).data if t.type == "heatmap" and t.name.startswith("ReLU ")]
    assert heat and all(t.colorscale[-1][1] == "#0072B2" for t in heat)
    bars = next(t for t in curves.zero_sources([b, a]).data if t.type == "bar")
    assert list(bars.marker.color)[list(bars.y).index("ReLU")] == "#0072B2"


def test_other_names_hash_stably_and_never_share_a_colour_in_one_chart():
    import subprocess
    import sys
    # The same in another process (Python's own hash() is salted per process).
    code = "from dashboard.charts import style; print(style.name_color('my variant 7'))"
    root = str(__import__("pathlib").Path(__file__).resolve().parents[1])
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=120)
    assert other.stdout.strip() == style.name_color("my variant 7") in style.PALETTE
    names = [f"v{i}" for i in range(len(style.PALETTE))]
    assert len(set(style.variant_colors(names))) == len(style.PALETTE)  # collisions moved aside
    assert style.variant_colors(["ReLU", "x"])[0] == "#0072B2"  # a fixed name is never moved


def test_a_name_drawn_twice_gets_shades_of_its_colour():
    one, two, three = style.variant_colors(["#1 ReLU", "#2 ReLU", "#3 ReLU"])
    assert one == "#0072B2" and len({one, two, three}) == 3
    for shade in (two, three):  # same hue family: still blue, not another variant's colour
        assert shade not in style.PALETTE and _delta_e(shade, one) < _delta_e(shade, "#D55E00")


def test_class_colours_are_unlike_every_variant_colour():
    for c in style.CLASS_COLORS:
        assert min(_delta_e(c, v) for v in style.PALETTE) >= 25, c
    pairs = [(a, b) for i, a in enumerate(style.CLASS_COLORS) for b in style.CLASS_COLORS[i + 1:]]
    assert min(_delta_e(a, b) for a, b in pairs) >= 20
