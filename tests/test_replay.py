"""Replaying a stored run at a snapshot epoch (core/replay.py)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.config import validate
from core.replay import at_epoch, replay_epochs
from core.results import Experiment
from core.serve.thin import thin
from core.snapshots import schedule
from core.train import run_experiment


@pytest.fixture(scope="module")
def exp():
    base = validate(n_samples=120, epochs=30, seeds=2, width=8, batch_size=64)
    e = run_experiment(base, {"ReLU": {}, "drop": {"dropout": 0.5}}, max_threads=1)
    return Experiment.from_dict(json.loads(json.dumps(e.to_dict())))  # as the store reopens it


def test_the_replay_epochs_are_the_snapshot_schedule(exp):
    assert replay_epochs(exp) == schedule(30)


def test_curves_stop_at_the_epoch_and_pictures_are_that_snapshots(exp):
    e = replay_epochs(exp)[5]
    view = at_epoch(exp, e)
    for r, v in zip(exp.runs, view.runs, strict=True):
        assert v.epochs_done == e + 1 and v.last_epoch == e
        np.testing.assert_array_equal(v.curve("val_loss"), r.curve("val_loss")[:, : e + 1])
        s = r.artifacts["snapshots"]
        k = list(s["epochs"]).index(e)
        assert v.artifacts["shown_epoch"] == e
        G = len(s["x"])
        np.testing.assert_allclose(v.artifacts["boundary"]["p1"][0].astype(float).ravel(),
                                   s["out_eval"][k] / 255.0, atol=1e-3)
        np.testing.assert_array_equal(v.artifacts["raster"][0], s["raster"][k].astype(bool))
        np.testing.assert_array_equal(v.artifacts["units"]["eval"][0], s["eval"][k])
        assert v.artifacts["boundary"]["p1"].shape == (1, G, G)
        assert v.status == "running"
    # the run itself is untouched
    assert exp.runs[0].epochs_done == 31 and exp.runs[0].artifacts["boundary"]["p1"].shape[1] == 80


def test_between_snapshots_the_last_one_before_is_shown(exp):
    eps = replay_epochs(exp)
    i = next(i for i in range(len(eps) - 1) if eps[i + 1] - eps[i] > 1)  # a gap in the schedule
    between = eps[i] + 1
    v = at_epoch(exp, between)
    assert v.runs[0].artifacts["shown_epoch"] == eps[i] and v.runs[0].last_epoch == between


def test_the_last_epoch_is_the_finished_run(exp):
    v = at_epoch(exp, 30)
    assert all(r.status == "ok" and r.epochs_done == 31 for r in v.runs)


def test_a_thinned_view_is_cut_by_epoch_numbers(exp):
    t = thin(exp, 8)
    v = at_epoch(t, 12)
    r = v.runs[0]
    assert r.last_epoch <= 12 and all(r.epoch_of(i) <= 12 for i in range(r.epochs_done))


def test_a_run_without_snapshots_has_nothing_to_replay(tiny_digits_experiment):
    assert replay_epochs(tiny_digits_experiment) == []
