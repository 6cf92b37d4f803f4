"""Every preset is valid and runs; the flagship presets show what they claim."""
import numpy as np
import pytest

from core.presets import PRESETS
from core.train import run_experiment


@pytest.mark.parametrize("name", list(PRESETS))
def test_each_preset_runs_shortened(name):
    p = PRESETS[name]
    base = p.base_config(epochs=2)
    exp = run_experiment(base, p.variants, title=p.title, preset=name)
    assert exp.status in ("ok", "diverged")
    assert [r.name for r in exp.runs] == list(p.variants)
    assert 2 <= len(exp.runs) <= 4  # the page compares at most four variants
    for r in exp.runs:
        assert r.epochs_done == 3


def test_relu_vs_dropout_tells_the_story():
    p = PRESETS["relu-vs-dropout"]
    exp = run_experiment(p.base_config(), p.variants)
    relu, relu_do = exp.run("ReLU"), exp.run("ReLU + dropout 0.5")
    lin_do = exp.run("linear + dropout 0.5")
    assert np.all(relu.final("mask_agreement") == 1.0)
    assert np.all(relu_do.final("mask_agreement") < 0.95)
    assert relu_do.final("gap_loss").mean() < relu.final("gap_loss").mean()
    assert relu.final("train_acc").mean() > lin_do.final("train_acc").mean()


def test_dying_relu_kills_units_leaky_does_not():
    p = PRESETS["dying-relu"]
    exp = run_experiment(p.base_config(epochs=30), p.variants)
    dead = {r.name: np.nansum(r.final("dead"), axis=1) for r in exp.runs}
    negative = np.nansum(exp.run("leaky ReLU, lr 0.1").final("negative"), axis=1)
    assert dead["ReLU, lr 0.1"].mean() > 40            # of 128 hidden units
    assert dead["leaky ReLU, lr 0.1"].max() == 0        # negative, but never exactly zero
    assert negative.mean() > 20
    assert dead["ReLU, lr 0.003"].mean() < dead["ReLU, lr 0.1"].mean() / 2
