"""Frozen copies and private views: what threads may share instead of the live experiment."""
from __future__ import annotations

import numpy as np
import pytest

from core.config import validate
from core.serve.snapshot import freeze, frozen_copy, stopped_experiment, view


@pytest.fixture
def live():
    """An experiment in the middle of training: the first variant done, the second running."""
    base = validate(n_samples=100, epochs=4, width=8, seeds=2, batch_size=32)
    exp = stopped_experiment(base, {"ReLU": {}, "dropout": {"dropout": 0.5}}, "t", "p")
    for r, status, done in zip(exp.runs, ("ok", "running"), (5, 2), strict=True):
        r.status, r.epochs_done = status, done
        r.metrics["val_acc"][:, :done] = np.arange(done) / 10
    exp.runs[0].artifacts = {"confusion": np.eye(2, dtype=np.int64), "nested": {"x": np.zeros(3)}}
    return exp


def test_a_frozen_copy_does_not_follow_the_live_experiment(live):
    snap = frozen_copy(live)
    live.runs[1].metrics["val_acc"][:, 2] = 0.9  # the training thread writes on
    live.runs[1].epochs_done = 3
    live.runs[1].messages.append("later")
    assert snap.runs[1].epochs_done == 2 and np.isnan(snap.runs[1].metrics["val_acc"][:, 2]).all()
    assert snap.runs[1].messages == [] and snap.runs[1] is not live.runs[1]


def test_a_frozen_copy_cannot_be_written(live):
    snap = frozen_copy(live)
    with pytest.raises(ValueError, match="read-only"):
        snap.runs[1].metrics["val_acc"][0, 0] = 1.0
    with pytest.raises(ValueError, match="read-only"):
        snap.runs[0].artifacts["nested"]["x"][0] = 1.0
    assert live.runs[1].metrics["val_acc"].flags.writeable  # the original is untouched


def test_freeze_works_in_place_and_keeps_the_numbers(live):
    before = live.runs[0].metrics["val_acc"].copy()
    assert freeze(live) is live
    np.testing.assert_array_equal(live.runs[0].metrics["val_acc"], before)
    assert not live.runs[0].artifacts["confusion"].flags.writeable


def test_a_view_has_the_callers_names_and_shares_the_arrays(live):
    snap = frozen_copy(live)
    mine = view(snap, ["a", "b"], "my title", "")
    assert [r.name for r in mine.runs] == ["a", "b"] and (mine.title, mine.preset) == ("my title", "")
    assert [r.name for r in snap.runs] == ["ReLU", "dropout"] and snap.title == "t"  # the shared copy unchanged
    assert mine.runs[0].metrics["val_acc"] is snap.runs[0].metrics["val_acc"]  # no array copied
    mine.runs[0].messages.append("mine only")
    mine.runs[0].metrics["extra"] = np.zeros(1)
    assert snap.runs[0].messages == [] and "extra" not in snap.runs[0].metrics
    same = view(snap)
    assert [r.name for r in same.runs] == ["ReLU", "dropout"] and same.title == "t" and same.preset == "p"


def test_a_stopped_view_marks_unfinished_variants_only(live):
    live.runs.append(stopped_experiment(live.base, {"x": {}}).runs[0])
    live.runs[2].status = "pending"
    stopped = view(live, stopped=True)
    assert [r.status for r in stopped.runs] == ["ok", "stopped", "stopped"]
    assert [r.status for r in live.runs] == ["ok", "running", "pending"]


def test_a_view_needs_one_name_per_variant(live):
    with pytest.raises(ValueError):
        view(live, ["only one"])


def test_stopped_experiment_has_nothing_measured():
    base = validate(n_samples=100, epochs=3, width=8, seeds=2, depth=3)
    exp = stopped_experiment(base, {"a": {}, "b": {"width": 4}}, "t", "p")
    assert [r.name for r in exp.runs] == ["a", "b"] and exp.status == "stopped"
    assert all(r.epochs_done == 0 and r.layers == 3 for r in exp.runs) and exp.runs[1].config.width == 4
    assert exp.runs[0].metrics["val_acc"].shape == (2, 4) and (exp.title, exp.preset) == ("t", "p")
