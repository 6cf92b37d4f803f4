"""core.cost: the examples a run really uses, and how an epoch is cut into batches."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core import cost
from core.config import validate
from core.csvdata import MIN_ROWS, example_csv
from core.data import make_dataset
from core.models import BatchedNet


@pytest.mark.parametrize("settings_, n", [
    ({}, 1000),                                    # generated sets: 1000 points by default
    ({"dataset": "spirals", "n_samples": 400}, 400),
    ({"dataset": "digits"}, 1797),                 # every bundled image
    ({"dataset": "digits", "n_samples": 0}, 1797),
    ({"dataset": "digits", "n_samples": 500}, 500),
])
def test_examples_are_the_data_sets_natural_size_unless_set_lower(settings_, n):
    cfg = validate(settings_)
    assert cost.examples(cfg) == n
    d = make_dataset(cfg)
    assert len(d.x_train) + len(d.x_val) == n  # what the data really holds
    assert cost.split(cfg) == (len(d.x_train), len(d.x_val))


def test_a_csv_uses_every_row_whatever_n_samples_says(tmp_path):
    p = tmp_path / "pts.csv"
    p.write_text(example_csv(230))
    for n_samples in (0, 50, 5000):
        assert cost.examples(validate(dataset="csv", data_path=str(p), n_samples=n_samples)) == 230
    # An unreadable file: training reports it; the estimate meanwhile is the smallest usable file.
    assert cost.examples(validate(dataset="csv", data_path=str(tmp_path / "missing.csv"))) == MIN_ROWS


def test_work_counts_the_effective_examples():
    assert cost.work([validate(dataset="digits", epochs=2, width=4, depth=1, seeds=1)]) == 2 * 1797 * 4


@pytest.mark.parametrize("n,b,bn,sizes", [
    (700, 3, False, [3] * 233 + [1]),      # 700 = 233 * 3 + 1: without batch norm a last batch of one is kept
    (700, 3, True, [3] * 232 + [4]),       # with it, merged into the batch before
    (700, 64, True, [64] * 10 + [60]),
    (10, 4, True, [4, 4, 2]),
    (9, 4, True, [4, 5]),
    (10, 0, True, [10]),                   # 0 = full batch
    (10, 50, False, [10]),
    (5, 2, True, [2, 3]),
])
def test_batches(n, b, bn, sizes):
    assert cost.batches(n, b, bn) == sizes


@settings(max_examples=300, deadline=None)
@given(st.integers(2, 3000), st.integers(0, 3000), st.booleans())
def test_batches_cover_the_epoch_and_batch_norm_never_gets_one(n, b, bn):
    if bn and b == 1:
        b = 2  # refused by core.config (tests/test_config.py)
    sizes = cost.batches(n, b, bn)
    full = min(b or n, n)
    assert sum(sizes) == n and all(s >= 1 for s in sizes)
    assert sizes[:-1] == [full] * (len(sizes) - 1)  # only the last batch differs
    assert sizes[-1] <= full + 1
    if bn:
        assert min(sizes) >= 2


def test_training_steps_over_exactly_these_batches(monkeypatch):
    # 1000 moons leave 700 training points: batch 3 with batch norm gives 232 batches of 3 and
    # one of 4. Every training forward (the ones that build a graph) is recorded.
    cfg = validate(batchnorm=True, batch_size=3, epochs=2, seeds=2, width=4)
    seen = []
    forward = BatchedNet.forward

    def spy(self, x, train, *args, **kw):
        if train and torch.is_grad_enabled():
            seen.append(x.shape[1])
        return forward(self, x, train, *args, **kw)

    monkeypatch.setattr(BatchedNet, "forward", spy)
    from core.train import train
    res = train(cfg)
    assert res.status == "ok"
    assert seen == 2 * ([3] * 232 + [4])


def test_the_memory_estimate_adds_up_the_variants_that_train_at_once():
    # core.groups: variants that share shapes train as one network (their training memory adds
    # up); groups train one after another (the largest counts); every result is kept.
    base = validate(width=64, seeds=3)
    alike = [base, base.replace(dropout=0.5), base.replace(lr=0.1)]
    parts = [cost.memory_bytes(c) for c in alike]
    mb = 1024 * 1024
    expected = (sum(t for t, _ in parts) + sum(k for _, k in parts)) / mb + cost.MEMORY_BASE_MB
    assert cost.estimate_memory_mb(alike) == pytest.approx(expected)
    apart = [base, base.replace(width=32), base.replace(width=16)]
    parts = [cost.memory_bytes(c) for c in apart]
    expected = (max(t for t, _ in parts) + sum(k for _, k in parts)) / mb + cost.MEMORY_BASE_MB
    assert cost.estimate_memory_mb(apart) == pytest.approx(expected)


def test_the_pieces_constants_are_the_engines():
    from core import artifacts

    assert cost.BOUNDARY_POINTS == artifacts.BOUNDARY_GRID ** 2 and cost.RASTER_INPUTS == artifacts.RASTER_INPUTS


def test_piece_macs_count_one_step_one_measurement_and_the_pictures():
    cfg = validate(width=10, depth=2, seeds=3, n_samples=1000, batch_size=50, epochs=5)  # moons: 2 inputs, 2 classes
    per = 2 * 10 + 10 * 10 + 10 * 2  # one forward of one seed over one example
    assert cost.forward_macs(cfg) == per
    pieces = cost.piece_macs(cfg)
    assert pieces == {"step": 3 * 3 * 50 * per, "measurement": 3 * (1000 + 2 * 256) * per,
                      "pictures": 3 * (80 * 80 + 3 * 48) * per}
    assert cost.piece_macs(cfg.replace(epochs=0))["step"] == 0  # measuring epoch 0 only trains no step
    name, which, seconds = cost.longest_piece([cfg, cfg.replace(width=20)])
    assert name == "pictures" and which.width == 20 and seconds == cost.piece_macs(which)["pictures"] / cost.MACS_PER_S
    # variants that train as one network (same shapes) take their pieces together
    # (two of width 10 outweigh one of width 14: 2 x 140 > 252 per example)
    name, which, seconds = cost.longest_piece([cfg, cfg.replace(dropout=0.5), cfg.replace(width=14)])
    assert name == "pictures" and which.width == 10 and seconds == 2 * pieces["pictures"] / cost.MACS_PER_S


def test_memory_estimate_against_measured_peaks():
    """The estimate bounds the measured peak of every kind of run and is at most 3x it.

    Each setting of bench.memcal's quick grid (both models, a batch of 2 and the whole set,
    measurement-only runs, dropout with batch norm, a long many-seed history) is served the
    page's way in a child of one warmed-up process; the figure is its peak resident memory
    above where it started (Linux's VmHWM)."""
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc")
    from bench.memcal import QUICK, calibrate

    rows = calibrate(QUICK)
    assert [r["name"] for r in rows] == list(QUICK)
    for r in rows:
        assert "error" not in r, r
        assert r["growth_mb"] <= r["estimate_mb"] <= 3 * r["growth_mb"], r


def test_the_unit_pictures_constants_are_core_units():
    from core import units

    assert cost.UNIT_POINTS == units.UNITS_GRID ** 2 and cost.UNIT_CHUNK_VALUES == units.CHUNK_VALUES
    cfg = validate(width=512, depth=2, seeds=8)
    assert cost.unit_rows(cfg) == 128 and cost.memory_terms(cfg)["pictures"] == 4.0 * 3 * 8 * 1024 * 128
    assert cost.memory_terms(validate(dataset="digits"))["pictures"] == 0.0  # pictures of 2-D data only
