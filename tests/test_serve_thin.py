"""Thinned views: every k-th epoch and the last, epoch numbers kept, exact where kept."""
from __future__ import annotations

import json

import numpy as np
import pytest

from core.config import validate
from core.results import Experiment, RunResult
from core.serve.thin import MAX_EPOCHS, kept_rows, shown_note, thin


def _long(epochs: int, seeds: int = 3, done: int | None = None, diverged: int | None = None) -> Experiment:
    cfg = validate(epochs=epochs, seeds=seeds, width=4, n_samples=100)
    r = RunResult.empty(cfg, "long", cfg.depth)
    done = epochs + 1 if done is None else done
    for v in r.metrics.values():  # each value says where it came from: seed * 1e6 + epoch
        v[:, :done] = (np.arange(seeds)[:, None] * 1e6 + np.arange(done)[None, :]).reshape(
            (seeds, done) + (1,) * (v.ndim - 2))
    r.epochs_done, r.status = done, "ok"
    if diverged is not None:
        r.diverged_at[1] = diverged
        for v in r.metrics.values():
            v[1, diverged:] = np.nan
    return Experiment(cfg, [r], "t")


@pytest.mark.parametrize("n", [1, 2, 500, 501, 502, 1000, 5001, 12345])
def test_kept_rows_are_every_kth_and_the_last(n):
    rows = kept_rows(n)
    assert rows[0] == 0 and rows[-1] == n - 1 and len(rows) <= MAX_EPOCHS + 1
    steps = np.diff(rows)
    assert (steps[:-1] == steps[0]).all() if len(steps) > 1 else True  # a constant step, the last one shorter
    if n <= MAX_EPOCHS + 1:
        assert list(rows) == list(range(n))


def test_a_thinned_view_keeps_exact_values_at_their_epochs():
    exp = _long(5000)
    t = thin(exp)
    r, full = t.runs[0], exp.runs[0]
    assert r.epochs_done == len(r.epoch_numbers) <= MAX_EPOCHS + 1 and r.last_epoch == 5000
    assert r.epoch_numbers[0] == 0 and list(np.diff(r.epoch_numbers[:-1])) == [11] * (r.epochs_done - 2)
    for k in full.metrics:
        np.testing.assert_array_equal(r.metrics[k][:, : r.epochs_done], full.metrics[k][:, r.epoch_numbers])
    np.testing.assert_array_equal(r.final("val_acc"), full.final("val_acc"))  # the last epoch is always kept
    assert not np.shares_memory(r.metrics["val_acc"], full.metrics["val_acc"])  # holds nothing of the original
    assert thin(t) is t and thin(_long(100)) is not None and thin(e := _long(100)) is e  # short: itself
    assert shown_note(t).startswith("Long history: the charts and downloads show 456 of its 5001 measured epochs (one in 11, and the last).")  # 0, 11, ..., 4994 and 5000
    assert shown_note(exp) == ""


def test_records_and_exports_of_a_thinned_view_carry_the_real_epochs():
    exp = _long(2000, diverged=1500)
    t = thin(exp)
    recs = t.records()
    seed0 = [x["epoch"] for x in recs if x["seed"] == 0]
    seed1 = [x["epoch"] for x in recs if x["seed"] == 1]
    assert seed0 == [int(e) for e in t.runs[0].epoch_numbers]
    assert seed1 == [e for e in seed0 if e < 1500]  # the diverged seed's curve stops where it diverged
    assert all(x["val_acc"] == x["seed"] * 1e6 + x["epoch"] for x in recs)  # each row is its own epoch's
    out = t.export()
    assert out["variants"][0]["epochs_shown"] == seed0
    again = Experiment.from_dict(json.loads(json.dumps(t.to_dict())))  # the store keeps the epoch numbers
    np.testing.assert_array_equal(again.runs[0].epoch_numbers, t.runs[0].epoch_numbers)
    assert "epochs_shown" not in exp.export()["variants"][0]


def test_a_stopped_run_thins_what_it_measured():
    t = thin(_long(5000, done=3001))
    r = t.runs[0]
    assert r.last_epoch == 3000 and r.epochs_done <= MAX_EPOCHS + 1
