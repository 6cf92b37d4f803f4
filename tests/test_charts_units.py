"""The network picture (dashboard/charts/units.py): its structure, from a real tiny run."""
from __future__ import annotations

import numpy as np
import pytest

from core.config import validate
from core.train import run_experiment
from dashboard.charts.units import default_variant, network


@pytest.fixture(scope="module")
def exp():
    base = validate(n_samples=100, epochs=3, seeds=2, width=40, depth=2, batch_size=32)
    return run_experiment(base, {"plain": {}, "lin": {"activation": "linear"}, "drop": {"dropout": 0.5}},
                          max_threads=1)


def _traces(fig, kind):
    return [t for t in fig.data if t.name.startswith(kind)]


def test_two_passes_each_a_mosaic_and_a_blackout_layer(exp):
    fig = network(exp, seed_index=1, variant=2)
    units, dropped = _traces(fig, "units"), _traces(fig, "dropped")
    assert [t.name for t in units] == ["units, eval pass", "units, train pass"]
    art = exp.runs[2].artifacts["units"]
    G = len(art["x"])
    kept = art["kept"][1]  # seed #2
    # the eval pass blacks out nothing; the train pass exactly the dropped tiles, G*G cells each
    assert np.isnan(np.asarray(dropped[0].z, float)).all()
    assert np.isfinite(np.asarray(dropped[1].z, float)).sum() == (~kept[:, :16]).sum() * G * G > 0
    heads = [a.text for a in fig.layout.annotations]
    assert "hidden 1<br>16 of 40" in heads and "hidden 2<br>16 of 40" in heads
    assert any("seed #2" in h and "first 16 units" in h for h in heads)


def test_without_dropout_nothing_is_black_and_the_picked_variant_is_named(exp):
    fig = network(exp, variant=0)
    assert all(np.isnan(np.asarray(t.z, float)).all() for t in _traces(fig, "dropped"))
    assert "plain" in fig.layout.title.text


def test_a_relu_tile_has_zeros_and_positives_a_linear_tile_takes_both_signs(exp):
    G = len(exp.runs[0].artifacts["units"]["x"])
    relu = np.asarray(network(exp, variant=0).data[0].z, float)
    lin = np.asarray(network(exp, variant=1).data[0].z, float)
    inputs_and_output = 2 * G * G + 4 * G * G  # x1, x2 ramps and the 2x2-tile output take both signs
    assert (relu < 0).sum() <= inputs_and_output < (lin < 0).sum()  # hidden ReLU tiles: never below 0
    assert (relu == 0).sum() > G * G  # ... and 0 on a half-plane


def test_the_default_variant_is_relu_with_dropout(exp):
    assert default_variant(exp) == 2


def test_a_run_without_unit_pictures_says_so(tiny_digits_experiment):
    fig = network(tiny_digits_experiment)
    assert "2-D data" in fig.layout.annotations[0].text
