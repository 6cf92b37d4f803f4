"""The Sweep page's URL (dashboard/sweeplink.py): the whole sweep round-trips, bad values give one
warning naming the parameter and the value, and nothing a link holds makes it raise."""
from __future__ import annotations

import pytest

from core.config import validate
from core.sweep import GRID_DEFAULTS, SWEEP_PRESETS, Sweep
from dashboard.sweeplink import DEFAULT_SWEEP, sweep_from_query, sweep_to_query


def test_no_parameters_is_the_default_preset_and_it_writes_nothing():
    sweep, warnings = sweep_from_query({})
    assert sweep == SWEEP_PRESETS[DEFAULT_SWEEP] and warnings == []
    assert sweep_to_query(sweep) == {}


@pytest.mark.parametrize("sweep", [
    SWEEP_PRESETS["dying-relu-lr"],
    Sweep(validate(epochs=5, seeds=2, n_samples=100), {"dropout": (0.0, 0.5)}),
    Sweep(validate(epochs=5, dataset="circles"), {"weight_decay": (0.0, 1e-4, 0.01), "activation": ("relu", "tanh")}),
    Sweep(validate(lr=0.003), {"width": (4, 8, 16), "batchnorm": (False, True)}),
    Sweep(SWEEP_PRESETS["dropout-sweep"].base.replace(epochs=3), SWEEP_PRESETS["dropout-sweep"].grid,
          SWEEP_PRESETS["dropout-sweep"].title, "dropout-sweep"),
])
def test_round_trip(sweep):
    q = sweep_to_query(sweep)
    back, warnings = sweep_from_query(q)
    assert warnings == [] and back.grid == sweep.grid and back.base == sweep.base
    assert back.key() == sweep.key()
    assert sweep_to_query(back) == q


def test_a_changed_preset_writes_only_what_changed():
    p = SWEEP_PRESETS["dropout-sweep"]
    q = sweep_to_query(Sweep(p.base.replace(epochs=3, seeds=2), p.grid, p.title, p.preset))
    assert q == {"preset": "dropout-sweep", "epochs": "3", "seeds": "2"}
    q = sweep_to_query(Sweep(p.base, {"dropout": (0.0, 0.4)}, p.title, p.preset))
    assert q == {"preset": "dropout-sweep", "grid": "dropout:0,0.4", "grid2": "none"}


def test_the_issues_link_form():
    sweep, warnings = sweep_from_query({"grid": "dropout:0,0.1,0.2", "grid2": "activation:relu,linear",
                                        "epochs": "20"})
    assert warnings == []
    assert sweep.grid == (("dropout", (0.0, 0.1, 0.2)), ("activation", ("relu", "linear")))
    assert sweep.base.epochs == 20 and sweep.preset == DEFAULT_SWEEP


def test_grid2_alone_keeps_the_presets_x_axis():
    sweep, warnings = sweep_from_query({"grid2": "activation:relu,tanh"})
    assert warnings == [] and sweep.grid == (("dropout", GRID_DEFAULTS["dropout"]), ("activation", ("relu", "tanh")))


@pytest.mark.parametrize("q, names", [
    ({"epochs": "abc"}, ("epochs", "'abc'")),
    ({"grid": "dropout:0,2"}, ("dropout", "'2'")),
    ({"grid": "seeds:1,2"}, ("grid", "'seeds'")),
    ({"grid": "nonsense"}, ("grid", "'nonsense'")),
    ({"grid2": "activation:relu,swish"}, ("activation", "'swish'")),
    ({"grid": "dropout:0,0,0.1"}, ("dropout", "repeated")),
    ({"preset": "nope"}, ("preset", "'nope'")),
    ({"dataset": "csv"}, ("dataset", "'csv'")),
    ({"zzz": "1"}, ("zzz", "unknown")),
    ({"grid": "dropout:0.1", "grid2": "dropout:0.2"}, ("grid2", "already swept")),
])
def test_a_bad_value_is_one_warning_naming_parameter_and_value(q, names):
    sweep, warnings = sweep_from_query(q)
    assert len(warnings) == 1, warnings
    assert all(n in warnings[0] for n in names), warnings
    assert sweep.configs()  # a usable sweep all the same


def test_a_bad_grid_falls_back_to_the_presets():
    sweep, _ = sweep_from_query({"grid": "dropout:0,2", "grid2": "activation:relu"})
    assert sweep.grid == (("dropout", GRID_DEFAULTS["dropout"]), ("activation", ("relu",)))


def test_a_rule_between_fields_is_a_warning_not_an_error():
    # a CNN needs digits: the base falls back; a grid point that breaks a rule drops the grid
    sweep, warnings = sweep_from_query({"model": "cnn"})
    assert sweep.base.model == "mlp" and len(warnings) == 1 and "model" in warnings[0]
    sweep, warnings = sweep_from_query({"grid": "model:mlp,cnn", "grid2": "none"})
    assert sweep == SWEEP_PRESETS[DEFAULT_SWEEP] and len(warnings) == 1 and "cnn" in warnings[0]


@pytest.mark.parametrize("raw", ["", ":", "dropout:", "dropout:,", "=", "dropout=0,,1", "<b>x</b>:1",
                                 "dropout:" + ",".join(["0.1"] * 600), "lr:" + "9" * 400, "\x1b[31m:1"])
def test_junk_never_raises(raw):
    sweep, warnings = sweep_from_query({"grid": raw, "grid2": raw, "epochs": raw})
    assert sweep.configs()
    assert all(len(w) < 700 for w in warnings)


def test_too_many_parameters_are_cut():
    q = {f"k{i}": "1" for i in range(500)}
    _, warnings = sweep_from_query(q)
    assert any("only the first" in w for w in warnings) and len(warnings) == 2
