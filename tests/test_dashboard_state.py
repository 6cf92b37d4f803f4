"""History's rows (dashboard/state.py history_rows, entry_label, changes) and the stored runs'
labels (dashboard/views/history.py): named by preset and what changed, with key numbers, unique."""
from __future__ import annotations

import copy

from apptest_helpers import stopped_entry

from dashboard import controls, state


def _store_with(specs, exp):
    store = state.Store()
    for spec in specs:
        store.add(spec, exp)
    return store


def test_changes_name_the_settings_that_differ_from_the_preset():
    spec = controls.default_spec()
    assert state.changes(spec) == []  # the preset as it is
    lr = controls.Spec.make(spec.base.replace(lr=0.05, epochs=100), spec.variant_dict(), spec.preset)
    assert state.changes(lr) == ["lr 0.05", "epochs 100"]  # in the schema's order
    fewer = controls.Spec.make(spec.base, {"ReLU": {"activation": "relu"}}, spec.preset)
    assert state.changes(fewer) == ["variants changed"]
    own = controls.Spec.make(spec.base.replace(activation="tanh"), None, controls.NO_PRESET)
    # without a preset: against the schema's defaults (which are relu, 64 wide, ...)
    assert "activation tanh" in state.changes(own) and all("lr" not in c for c in state.changes(own))


def test_runs_of_one_minute_with_the_same_settings_are_told_apart(tiny_experiment):
    spec = controls.default_spec()
    store = _store_with([spec, spec, spec], tiny_experiment)
    for e in store.entries:
        e.when = 1_700_000_000.0  # the same second, even
    labels = {state.entry_label(e) for e in store.entries}
    assert len(labels) == 3  # numbered: #1, #2, #3
    assert all("relu-vs-dropout" in label for label in labels)


def test_history_rows_carry_the_preset_the_changes_and_key_numbers(tiny_experiment):
    spec = controls.default_spec()
    changed = controls.Spec.make(spec.base.replace(lr=0.05), spec.variant_dict(), spec.preset)
    exp = copy.deepcopy(tiny_experiment)
    rows = state.history_rows(_store_with([spec, changed], exp).entries)
    assert len(rows) == 2 * len(exp.runs)  # one per variant of each run
    first, second = rows[0]["run"], rows[len(exp.runs)]["run"]
    assert first.startswith("#1 relu-vs-dropout ·") and second.startswith("#2 relu-vs-dropout: lr 0.05 ·")
    r = exp.runs[0]
    want_acc = round(float(r.final("val_acc").mean()), 4)  # mean over seeds of the last epoch
    assert rows[0]["val acc"] == want_acc
    assert rows[0]["acc gap"] == round(float(r.final("gap_acc").mean()), 4)
    dead = float(r.final("dead").sum(axis=1).mean())
    assert rows[0]["dead units"] == f"{dead:.1f} of {r.config.width * r.layers}"  # with its denominator


def test_stored_runs_are_labelled_by_preset_and_what_they_reached():
    from dashboard.views import history

    same = {"title": "Your experiment", "status": "ok", "created": 1_700_000_000.0, "preset": ""}
    a = history._label({**same, "key": "a" * 32, "variants": ["ReLU"], "val_acc": {"ReLU": 0.9113}})
    b = history._label({**same, "key": "b" * 32, "variants": ["ReLU"], "val_acc": {"ReLU": 0.8}})
    p = history._label({**same, "preset": "dying-relu", "key": "c" * 32, "variants": ["ReLU, lr 0.1"],
                        "val_acc": {"ReLU, lr 0.1": None}})
    assert a != b and "ReLU 0.911" in a and "ReLU 0.800" in b
    assert p.startswith("dying-relu · ReLU, lr 0.1 ·")  # no number where none was measured


def test_a_stopped_run_shows_its_last_snapshots_pictures():
    import numpy as np

    entry = stopped_entry()
    assert entry.stopped
    for r in entry.exp.runs:
        snaps = r.artifacts["snapshots"]
        k = int(np.flatnonzero(np.asarray(snaps["epochs"]) <= r.last_epoch)[-1])  # the last one of a measured epoch
        # the pictures are the last snapshot's, named by its epoch, at or before the last measured one
        assert r.artifacts["shown_epoch"] == int(snaps["epochs"][k]) <= r.last_epoch
        G = len(snaps["x"])
        p1 = np.asarray(snaps["out_eval"][k], np.float32).reshape(G, G) / 255.0
        assert np.allclose(np.asarray(r.artifacts["boundary"]["p1"][0], np.float32), p1, atol=1e-3)
        assert np.array_equal(np.asarray(r.artifacts["raster"][0]), np.asarray(snaps["raster"][k]).astype(bool))
        assert "units" in r.artifacts


def test_a_finished_run_keeps_its_own_pictures(tiny_experiment):
    assert all({"boundary", "snapshots"} <= set(r.artifacts) for r in tiny_experiment.runs)
    store = state.Store()
    entry = store.add(controls.default_spec(), tiny_experiment)
    for mine, theirs in zip(entry.exp.runs, tiny_experiment.runs, strict=True):
        assert mine.artifacts is theirs.artifacts and "shown_epoch" not in mine.artifacts
