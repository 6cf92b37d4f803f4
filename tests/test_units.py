"""Each hidden unit's picture over the input plane (core/units.py), against answers by hand."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from core.config import validate
from core.models import BatchedNet, SeedStreams
from core.units import UNITS_STREAM, dequantize, quantize, unit_outputs, units_artifact


def _grid(n=9):
    g = torch.linspace(-2, 2, n)
    return torch.stack(torch.meshgrid(g, g, indexing="xy"), -1).reshape(-1, 2)


def _two_unit_net():
    cfg = validate(dataset="moons", depth=1, width=2, activation="relu", seeds=1, dropout=0.0)
    net = BatchedNet(cfg, n_in=2, n_classes=2)
    with torch.no_grad():
        net.params[0].copy_(torch.tensor([[[1.0, 1.0], [-2.0, 1.0]]]))  # (S, in, units): unit 0 w=(1,-2), unit 1 w=(1,1)
        net.params[1].copy_(torch.tensor([[[0.5, -100.0]]]))            # unit 1 is off on the whole plane
    return net


def test_a_relu_unit_is_relu_of_its_line_and_a_dead_unit_is_all_zeros():
    net, pts = _two_unit_net(), _grid()
    o = unit_outputs(net, pts, SeedStreams([0], UNITS_STREAM))
    x = pts.numpy().astype(np.float64)
    by_hand = np.maximum(0.0, x[:, 0] * 1.0 + x[:, 1] * -2.0 + 0.5)
    np.testing.assert_allclose(o["eval"][0, 0, 0], by_hand, rtol=1e-6, atol=1e-6)
    assert (o["eval"][0, 0, 0] > 0).any() and (o["eval"][0, 0, 0] == 0).any()  # a half-plane, not all or nothing
    assert (o["eval"][0, 0, 1] == 0).all()
    # without dropout the train-mode pass is the eval pass and every unit is kept
    np.testing.assert_array_equal(o["train"], o["eval"])
    assert o["kept"].all()


def test_the_train_mode_pass_drops_whole_units_with_probability_p():
    p = 0.3
    cfg = validate(dataset="moons", depth=2, width=400, activation="relu", seeds=2, dropout=p)
    net, pts = BatchedNet(cfg, n_in=2, n_classes=2), _grid(7)
    o = unit_outputs(net, pts, SeedStreams(cfg.seed_list, UNITS_STREAM), max_units=400)
    kept = o["kept"]
    assert kept.shape == (2, 2, 400)
    assert abs((~kept).mean() - p) < 0.05  # 1600 draws: 3 standard deviations is 0.035
    # a dropped unit is 0 at every point of the plane, in every layer
    assert (o["train"][~kept] == 0).all()
    # a kept first-layer unit is its eval picture scaled by 1/(1-p) (its inputs are the same)
    k0 = kept[:, 0]
    np.testing.assert_allclose(o["train"][:, 0][k0], o["eval"][:, 0][k0] / (1 - p), rtol=1e-5, atol=1e-6)
    # ... and deeper units see the network without the dropped ones: their pictures change
    assert not np.allclose(o["train"][:, 1][kept[:, 1]], o["eval"][:, 1][kept[:, 1]] / (1 - p))


def test_the_draw_is_its_own_streams_same_streams_same_blackout():
    cfg = validate(dataset="moons", depth=2, width=32, seeds=2, dropout=0.5)
    net, pts = BatchedNet(cfg, n_in=2, n_classes=2), _grid(5)
    a = unit_outputs(net, pts, SeedStreams(cfg.seed_list, UNITS_STREAM))
    b = unit_outputs(net, pts, SeedStreams(cfg.seed_list, UNITS_STREAM))
    np.testing.assert_array_equal(a["kept"], b["kept"])
    assert a["kept"].shape == (2, 2, 16)  # capped at MAX_UNITS
    assert not a["kept"].all()


def test_quantized_maps_come_back_within_half_a_step():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(3, 2, 5, 40)), rng.normal(size=(3, 2, 5, 40)) * 2
    qa, qb, scale = quantize(a, b)
    assert qa.dtype == np.int8
    step = scale[..., None] / 127
    assert (np.abs(dequantize(qa, scale) - a) <= step / 2 + 1e-6).all()
    assert (np.abs(dequantize(qb, scale) - b) <= step / 2 + 1e-6).all()
    z, _, s0 = quantize(np.zeros((1, 4)), np.zeros((1, 4)))  # a dead unit: scale 0, all zeros, no NaN
    assert (z == 0).all() and s0[0] == 0


def test_a_diverged_seeds_maps_quantize_to_blank_without_a_warning():
    a = np.array([[np.nan, 1.0, -2.0, np.inf]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy's "invalid value encountered in cast" fails here
        qa, qb, scale = quantize(a, np.full_like(a, np.nan))
    assert qa.tolist() == [[0, 64, -127, 0]] and (qb == 0).all() and scale.tolist() == [2.0]


@pytest.fixture(scope="module")
def data():
    from core.data import make_dataset
    return make_dataset(validate(dataset="moons", n_samples=100))


def test_the_stored_form_has_every_seed_and_the_output(data):
    cfg = validate(dataset="moons", n_samples=100, depth=2, width=8, seeds=3, dropout=0.5)
    net = BatchedNet(cfg, n_in=2, n_classes=2)
    art = units_artifact(net, data, SeedStreams(cfg.seed_list, UNITS_STREAM), grid=10)
    assert art["eval"].shape == art["train"].shape == (3, 2, 8, 100)
    assert art["out_eval"].shape == (3, 100) and art["out_eval"].dtype == np.uint8
    assert art["x"].shape == (10,) and art["width"] == 8 and art["dropout"] == 0.5


def test_points_in_chunks_give_the_same_pictures_as_all_at_once(monkeypatch):
    from core import units

    cfg = validate(dataset="moons", depth=2, width=32, seeds=2, dropout=0.5, batchnorm=True)
    net, pts = BatchedNet(cfg, n_in=2, n_classes=2), _grid(13)
    whole = unit_outputs(net, pts, SeedStreams(cfg.seed_list, UNITS_STREAM))
    monkeypatch.setattr(units, "CHUNK_VALUES", 1)  # 16 points a chunk: 11 chunks
    chunked = unit_outputs(net, pts, SeedStreams(cfg.seed_list, UNITS_STREAM))
    for k, v in whole.items():
        np.testing.assert_array_equal(chunked[k], v, err_msg=k)
