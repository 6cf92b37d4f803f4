"""The verdict strip's numbers (core/verdict.py) against numpy over the RunResults' arrays, on a
real small run whose variants have names that say nothing, and the page sentence as a claim."""
from __future__ import annotations

import copy

import pytest

from core.config import validate
from core.presets import PRESETS
from core.train import run_experiment
from core.verdict import VERDICT_CLAIM, verdict

# Names that do not say what a variant is: the strip must find them by their settings.
VARIANTS = {"b": {"activation": "relu", "dropout": 0.3}, "c": {"activation": "linear", "dropout": 0.0},
            "a": {"activation": "relu", "dropout": 0.0}, "d": {"activation": "tanh", "dropout": 0.0}}


@pytest.fixture(scope="module")
def exp():
    base = validate(dataset="moons", n_samples=200, epochs=12, seeds=3, width=16, depth=2, batch_size=32)
    return run_experiment(base, VARIANTS, max_threads=1)


def _by_hand(run, metric):
    a = run.metrics[metric][:, run.epochs_done - 1]  # every seed finite here (no divergence)
    if a.ndim == 2:
        a = a[:, 0]  # first hidden layer
    return a.mean(), a.std(), len(a)


@pytest.mark.parametrize(("field", "variant", "metric"), [
    ("agreement_relu", "a", "mask_agreement"), ("agreement_dropout", "b", "mask_agreement"),
    ("gap_relu", "a", "gap_loss"), ("gap_dropout", "b", "gap_loss"),
    ("acc_relu", "a", "val_acc"), ("acc_linear", "c", "val_acc"),
])
def test_each_figure_is_the_mean_and_spread_over_seeds_of_the_variant_with_those_settings(exp, field, variant, metric):
    f = getattr(verdict(exp), field)
    mean, std, n = _by_hand(exp.run(variant), metric)
    assert f.variant == variant
    assert f.seeds == n == 3
    assert f.mean == pytest.approx(mean, abs=1e-12)
    assert f.spread == pytest.approx(std, abs=1e-12)


def test_the_dropout_p_is_the_variants_and_relu_agrees_with_itself_exactly(exp):
    s = verdict(exp)
    assert s.dropout == 0.3
    assert s.agreement_relu.mean == 1.0 and s.agreement_relu.spread == 0.0
    assert s.agreement_dropout.mean < 1.0


def test_what_the_experiment_lacks_is_none(exp):
    only_relu = copy.copy(exp)
    only_relu.runs = [exp.run("a")]
    s = verdict(only_relu)
    assert s.agreement_relu is not None and s.gap_relu is not None and s.acc_relu is not None
    assert s.agreement_dropout is None and s.gap_dropout is None and s.acc_linear is None and s.dropout is None
    only_tanh = copy.copy(exp)
    only_tanh.runs = [exp.run("d")]
    assert verdict(only_tanh).empty


def test_a_variant_that_measured_nothing_gives_none(exp):
    e = copy.deepcopy(exp)
    e.run("b").epochs_done = 0
    assert verdict(e).agreement_dropout is None and verdict(e).agreement_relu is not None


# ------------------------------------------------------------------ the page sentence is a claim
SETTINGS = {"5 seeds from 0": dict(seeds=5, seed=0), "5 seeds from 100": dict(seeds=5, seed=100), "as on the page": {}}


@pytest.fixture(scope="module")
def preset_runs():
    cache = {}

    def get(setting):
        if setting not in cache:
            p = PRESETS["relu-vs-dropout"]
            cache[setting] = run_experiment(p.base_config(**SETTINGS[setting]), p.variants, max_threads=1)
        return cache[setting]
    return get


@pytest.mark.parametrize("setting", SETTINGS)
def test_the_verdict_sentence_holds_on_the_default_preset(preset_runs, setting):
    v = VERDICT_CLAIM.verdict(preset_runs(setting))
    assert v.holds, v.evidence
    assert "mask agreement: ReLU 1.000" in v.evidence


def test_the_verdict_sentence_is_not_borne_out_when_dropout_widens_the_gap(preset_runs):
    e = copy.deepcopy(preset_runs("as on the page"))
    s = verdict(e)
    run = e.run(s.gap_dropout.variant)
    run.metrics["gap_loss"][:, run.epochs_done - 1] = s.gap_relu.mean + 1.0
    assert not VERDICT_CLAIM.verdict(e).holds


def test_the_verdict_sentence_is_not_measured_without_the_variants(exp):
    e = copy.copy(exp)
    e.runs = [exp.run("a")]
    v = VERDICT_CLAIM.verdict(e)
    assert not v.holds and "not measured" in v.evidence
