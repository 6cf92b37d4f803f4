"""Every sentence that states a result is checked (core/claims.py).

Each preset's claims and every universal claim hold over 5 seeds starting at seed 0 and at seed
100, and over the preset's own settings (what the page trains); every sentence of the page's
texts and of the README that states a result is one of them, or rests on them. The checks
themselves are tested against answers known by construction (a half-plane is straight, a V is not).
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from core import claims as C
from core.claims import Claim, Universal, Verdict, describe, line_agreement
from core.config import Config
from core.presets import PRESETS, markdown
from core.results import Experiment, RunResult
from core.train import run_experiment
from dashboard import charts, text

README = Path(__file__).resolve().parent.parent / "README.md"
# 5 seeds from 0 and from 100, and the preset as the page trains it (its own seeds from 0). Seed i
# trains the same alone or beside others only up to float rounding, which a high learning rate
# amplifies (dying-relu at lr 0.1), so the page's setting is run as it is, not read off the 5.
SETTINGS = {"5 seeds from 0": dict(seeds=5, seed=0), "5 seeds from 100": dict(seeds=5, seed=100), "as on the page": {}}
CASES = [(name, s) for name in PRESETS for s in SETTINGS]


@pytest.fixture(scope="module")
def experiments():
    """(preset, setting) -> Experiment, each trained once for the whole module."""
    cache: dict[tuple[str, str], Experiment] = {}

    def get(name: str, setting: str) -> Experiment:
        if (name, setting) not in cache:
            p = PRESETS[name]
            # one torch thread, as the hosted page trains (RELU_LAB_TORCH_THREADS=1): on a busy
            # machine two threads spin and cost the CNN three times the CPU
            cache[name, setting] = run_experiment(p.base_config(**SETTINGS[setting]), p.variants, title=p.title,
                                                  preset=name, max_threads=1)
        return cache[name, setting]
    return get


def _failures(pairs: list[tuple[str, Verdict]]) -> list[str]:
    return [f"{what}\n      evidence: {v.evidence}" for what, v in pairs if not v.holds]


@pytest.mark.parametrize(("name", "setting"), CASES)
def test_every_preset_claim_holds(experiments, name, setting):
    exp = experiments(name, setting)
    assert exp.status == "ok"
    failed = _failures([(c.text, c.verdict(exp)) for c in PRESETS[name].claims])
    assert not failed, f"{name}, {setting}:\n  " + "\n  ".join(failed)


@pytest.mark.parametrize(("name", "setting"), CASES)
def test_every_universal_claim_holds_where_it_applies(experiments, name, setting):
    exp = experiments(name, setting)
    failed = _failures([(f"{u.text} [{variant}]", v) for u in C.UNIVERSAL for variant, v in u.verdicts(exp)])
    assert not failed, f"{name}, {setting}:\n  " + "\n  ".join(failed)


def test_every_universal_claim_is_tested_on_some_preset(experiments):
    """A universal claim that applies to no preset's variant would never be checked."""
    exps = [experiments(name, "as on the page") for name in PRESETS]
    for u in C.UNIVERSAL:
        assert any(u.verdicts(exp) for exp in exps), u.text


# ------------------------------------------------------------------ the texts are the claims
def test_look_for_is_the_claims_texts():
    for p in PRESETS.values():
        assert len(p.claims) >= 2, p.name
        assert p.look_for == " ".join(c.text for c in p.claims)
        assert p.claim(p.claims[-1].text[:20]) is p.claims[-1]


def _flat(s: str) -> str:
    return re.sub(r"\s+", " ", s)


def _checked(backer: Claim | Universal) -> bool:
    """Run by the tests above: a universal claim, or one of a preset's claims."""
    return any(backer is u for u in C.UNIVERSAL) or any(backer is c for p in PRESETS.values() for c in p.claims)


def test_every_result_sentence_on_the_page_rests_on_checked_claims():
    for s in text.STATEMENTS:
        assert _flat(s.sentence) in _flat(text.shown_text(s.where)), (s.where, s.sentence)
        assert s.backed_by and all(_checked(b) for b in s.backed_by), s.sentence
    # a universal claim a caption states is the caption's own words
    for s in text.STATEMENTS:
        for b in s.backed_by:
            if isinstance(b, Universal) and s.sentence == b.text:
                assert b.text in text.shown_text(s.where)


def test_every_caption_states_checked_results_or_none():
    assert set(text.CAPTIONS) == set(charts.CHARTS)
    stated = {s.where.removeprefix("caption:") for s in text.STATEMENTS if s.where.startswith("caption:")}
    assert stated | set(text.NO_RESULT) == set(text.CAPTIONS) and not stated & set(text.NO_RESULT)


def test_no_sentence_the_numbers_contradict_is_left():
    """The audit's findings: dead units do come back, dropout does kill units, linear networks do
    well on digits, and the short answer belongs to its own preset."""
    shown = _flat(" ".join([text.SHORT_ANSWER, text.EXPLANATION, *text.CAPTIONS.values(), README.read_text()]))
    for false in ("dead for good", "never recover", "never to recover", "cannot kill", "Linear networks stall",
                  "stays at chance", "keep the gap smaller", "keeps this gap smaller", "grey = zero"):
        assert false.lower() not in shown.lower(), false
    assert "grey = ≤ 0 (off)" in text.CAPTIONS["on-off-raster"]
    assert set(text.SHORT_ANSWERS) == {"relu-vs-dropout"}


# Sentences of the README outside the presets list that state a result, with the claims behind them.
_p = PRESETS
README_STATEMENTS = (
    ("Same input, same weights, same zeros — in training and after deployment.", (C.SAME_ZEROS, C.RASTER_PASSES)),
    ("They are what makes the network non-linear", (C.RELU_BENDS, C.LINEAR_STRAIGHT)),
    ("they do not regularize by themselves", (_p["relu-vs-dropout"].claim("Dropout narrows the loss gap"),)),
    ("they often narrow the gap between training and validation loss, though not on every preset (not in "
     "`digits-cnn`)", (_p["relu-vs-dropout"].claim("Dropout narrows the loss gap"),
                       _p["digits-cnn"].claim("Here dropout does not narrow"))),
    ("a linear network with dropout still draws a straight line", (C.LINEAR_STRAIGHT,)),
)


def test_readme_states_only_checked_results():
    readme = _flat(README.read_text())
    for sentence, backers in README_STATEMENTS:
        assert _flat(sentence) in readme, sentence
        assert all(_checked(b) for b in backers), sentence
    # The presets section is the presets' own claims, word for word.
    block = README.read_text().split("<!-- presets:start -->\n", 1)[1].split("\n<!-- presets:end -->", 1)[0]
    assert block == markdown(), "README presets list is stale: paste core.presets.markdown()"


# ------------------------------------------------------------------ the checks themselves
G = 80
II, JJ = np.meshgrid(np.arange(G), np.arange(G), indexing="ij")


def test_a_half_plane_is_straight_a_v_is_not():
    assert line_agreement((0.37 * II - 0.81 * JJ + 11.3 > 0).astype(np.int8)) == 1.0
    assert line_agreement((JJ > 40).astype(np.int8)) == 1.0            # along the grid
    assert line_agreement(np.zeros((G, G), np.int8)) == 1.0             # one class: nothing to bend
    v = (JJ > np.abs(II - 40) + 20).astype(np.int8)                     # a V: two half-planes
    assert line_agreement(v) < C.BENT
    # yet most of it: a line along one arm gets all but a wedge right
    assert 0.8 < line_agreement(v)


def test_three_linear_classes_are_straight_three_blobs_are_not():
    # offsets off the lattice: no cell lies exactly on a border, where rounding would pick its class
    scores = np.stack([0.3 * II + 0.1 * JJ, -0.2 * II + 0.5 * JJ - 4.9871, 0.05 * II - 0.4 * JJ + 20.0133])
    assert line_agreement(scores.argmax(0).astype(np.int8)) == 1.0
    ring = ((II - 40) ** 2 + (JJ - 40) ** 2 < 300).astype(np.int8)      # a disc inside another class
    assert line_agreement(ring) < C.BENT


def _run(name: str, metrics: dict[str, np.ndarray], **cfg) -> RunResult:
    """A finished run with the given curves (seeds, epochs[, layers]); the rest NaN."""
    config = Config(epochs=2, seeds=2, depth=1, **cfg)
    r = RunResult.empty(config, name, 1)
    for k, v in metrics.items():
        r.metrics[k][...] = v
    r.epochs_done, r.status = 3, "ok"
    return r


def test_builders_compare_means_and_say_so():
    a = _run("a", {"val_acc": np.array([[0.5, 0.8, 0.9], [0.5, 0.7, 0.8]])})
    b = _run("b", {"val_acc": np.array([[0.5, 0.6, 0.7], [0.5, 0.6, 0.7]])})
    exp = Experiment(a.config, [a, b])
    assert C.higher("val_acc", "a", "b", by=0.1)(exp).holds
    assert not C.higher("val_acc", "a", "b", by=0.2)(exp).holds
    assert C.lower("val_acc", "b", "a")(exp).evidence == "val acc: b 0.700 ± 0.000, a 0.850 ± 0.050"
    assert C.close("val_acc", "a", "b", tol=0.16)(exp).holds and not C.close("val_acc", "a", "b", tol=0.1)(exp).holds
    assert C.within("val_acc", "a", 0.75, 0.95, every_seed=True)(exp).holds
    assert not C.within("val_acc", "a", 0.85, 0.95, every_seed=True)(exp).holds   # one seed ends at 0.8
    assert C.rises("val_acc", "a", by=0.3)(exp).holds and not C.rises("val_acc", "a", by=0.4)(exp).holds
    assert C.everywhere("val_acc", "b", 0.5, 0.7)(exp).holds and not C.everywhere("val_acc", "a", 0.5, 0.85)(exp).holds


def test_a_claim_this_run_does_not_bear_out_is_never_shown_as_a_fact():
    a = _run("a", {"val_acc": np.array([[0.5, 0.8, 0.9], [0.5, 0.7, 0.8]])})
    exp = Experiment(a.config, [a])
    holds = Claim("A is good.", C.within("val_acc", "a", 0.8, 1.0))
    fails = Claim("A is perfect.", C.within("val_acc", "a", 0.99, 1.0))
    missing = Claim("B is good.", C.within("val_acc", "b", 0.8, 1.0))
    assert (describe(holds, holds.verdict(exp)), holds.verdict(exp).evidence) == ("✓ A is good.",
                                                                                  "val acc: a 0.850 ± 0.050")
    assert describe(fails, fails.verdict(exp)) == "✗ Not borne out by this run: A is perfect."
    v = missing.verdict(exp)
    assert not v.holds and "not measured" in v.evidence


def test_universal_claims_see_dropout_and_activation():
    agree = np.ones((2, 3, 1))
    relu = _run("r", {"mask_agreement": agree, "dropout_zero_frac_train": 0 * agree})
    drop = _run("d", {"mask_agreement": agree * 0.8, "dropout_zero_frac_train": agree * 0.2}, dropout=0.5)
    bad = _run("x", {"mask_agreement": agree * 0.9, "dropout_zero_frac_train": agree * 0.1})  # no dropout, yet
    exp = Experiment(relu.config, [relu, drop, bad])
    assert [(n, v.holds) for n, v in C.SAME_ZEROS.verdicts(exp)] == [("r", True), ("x", False)]
    assert [(n, v.holds) for n, v in C.REDRAWN_ZEROS.verdicts(exp)] == [("d", True)]
    assert [(n, v.holds) for n, v in C.DROPOUT_ZEROS.verdicts(exp)] == [("r", True), ("d", True), ("x", False)]
    assert C.LINEAR_STRAIGHT.verdicts(exp) == []  # no linear variant, no 2-D picture: nothing to check
