"""Pictures taken during training (core/snapshots.py): bounded, evenly spread, published live,
stored and reopened, and never changing a number the training produces."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core import snapshots
from core.config import validate
from core.results import Experiment, RunResult
from core.snapshots import MAX_SNAPSHOTS, schedule
from core.train import run_experiment, train


@pytest.mark.parametrize("epochs", [0, 1, 5, 23, 24, 80, 5000])
def test_the_schedule_is_bounded_even_and_has_the_first_and_last_epoch(epochs):
    s = schedule(epochs)
    assert len(s) == min(MAX_SNAPSHOTS, epochs + 1)
    assert s[0] == 0 and s[-1] == epochs and s == sorted(set(s))
    if len(s) > 2:
        steps = np.diff(s)
        assert steps.max() - steps.min() <= 1  # evenly thinned


@pytest.mark.parametrize("extra", [dict(dropout=0.5), dict(dropout=0.3, batchnorm=True, optimizer="momentum"),
                                   dict(activation="tanh")])
def test_training_numbers_are_the_same_to_the_bit_with_snapshots_on_or_off(monkeypatch, extra):
    cfg = validate(n_samples=150, epochs=6, seeds=2, width=16, batch_size=32, **extra)
    on = train(cfg)
    monkeypatch.setattr(snapshots, "ENABLED", False)
    off = train(cfg)
    assert "snapshots" in on.artifacts and "snapshots" not in off.artifacts and "units" not in off.artifacts
    for m in on.metrics:
        if m != "seconds":
            np.testing.assert_array_equal(on.metrics[m], off.metrics[m], err_msg=m)
    for k in ("raster",):
        np.testing.assert_array_equal(on.artifacts[k], off.artifacts[k])
    for k in ("p1", "pred"):
        np.testing.assert_array_equal(on.artifacts["boundary"][k], off.artifacts["boundary"][k])


def test_a_long_run_keeps_at_most_max_snapshots_of_every_picture():
    cfg = validate(n_samples=150, epochs=60, seeds=2, width=16, batch_size=64, dropout=0.5)
    r = train(cfg)
    s = r.artifacts["snapshots"]
    assert list(s["epochs"]) == schedule(60) and len(s["epochs"]) == MAX_SNAPSHOTS
    K, L, U = len(s["epochs"]), cfg.depth, 16
    assert s["eval"].shape == s["train"].shape == (K, L, U, snapshots.SNAP_GRID ** 2)
    assert s["raster"].shape == (K, L, 3, snapshots.SNAP_INPUTS, min(16, snapshots.SNAP_UNITS))
    assert s["out_eval"].shape == (K, snapshots.SNAP_GRID ** 2)
    assert not (s["out_eval"][0] == s["out_eval"][-1]).all()  # it learned between first and last
    assert not s["kept"].all()  # dropout 0.5 blacks out some of the 32 drawn units


def test_the_page_sees_the_snapshots_grow_while_training():
    cfg = validate(n_samples=120, epochs=10, seeds=1, width=8, batch_size=64)
    seen = []
    train(cfg, on_epoch=lambda res, e: seen.append(len(res.artifacts.get("snapshots", {}).get("epochs", []))))
    assert seen == sorted(seen) and seen[0] >= 1 and seen[-1] == 11


def test_snapshots_and_units_are_stored_and_reopened_as_they_were():
    base = validate(n_samples=120, epochs=8, seeds=2, width=8, batch_size=64)
    exp = run_experiment(base, {"ReLU": {}, "drop": {"dropout": 0.5}})
    doc = json.loads(json.dumps(exp.to_dict()))
    back = Experiment.from_dict(doc)
    for r, b in zip(exp.runs, back.runs, strict=True):
        for part in ("snapshots", "units"):
            for k, v in r.artifacts[part].items():
                w = b.artifacts[part][k]
                if isinstance(v, np.ndarray):
                    assert w.dtype == v.dtype, (part, k)
                    np.testing.assert_array_equal(w, v, err_msg=f"{part}.{k}")
                else:
                    assert w == v
        np.testing.assert_array_equal(b.artifacts["raster"], r.artifacts["raster"])
    # byte-sized arrays are kept compactly, not as JSON lists
    assert "__bytes__" in doc["runs"][0]["artifacts"]["snapshots"]["eval"]


def test_a_run_stored_before_snapshots_opens_without_them():
    r = train(validate(n_samples=100, epochs=2, seeds=1, width=8))
    d = r.to_dict()
    d["artifacts"] = {k: v for k, v in d["artifacts"].items() if k not in ("snapshots", "units")}
    back = RunResult.from_dict(json.loads(json.dumps(d)))
    assert "snapshots" not in back.artifacts and "boundary" in back.artifacts


def test_digits_take_no_snapshots():
    r = train(validate(dataset="digits", n_samples=100, epochs=1, seeds=1, width=8))
    assert "snapshots" not in r.artifacts and "units" not in r.artifacts
