"""dashboard/text.py: a caption says only what the runs beside it can show, and a claim the run
cannot check is said to be unchecked, in words."""
from __future__ import annotations

import numpy as np

from core import claims as C
from core.claims import Claim
from core.config import Config
from core.results import Experiment, RunResult
from dashboard import text

MOONS_ONLY = C.LINEAR_BELOW_RELU.text  # "On the moons a linear network levels off below ..."


def _run(name: str, **cfg) -> RunResult:
    r = RunResult.empty(Config(epochs=2, seeds=2, depth=1, **cfg), name, 1)
    r.metrics["val_acc"][...] = np.array([[0.5, 0.8, 0.9], [0.5, 0.7, 0.8]])
    r.epochs_done, r.status = 3, "ok"
    return r


def test_the_moons_sentence_is_shown_only_beside_a_linear_and_a_relu_run_on_the_moons():
    linear, relu = _run("linear", activation="linear"), _run("ReLU")
    both = Experiment(linear.config, [relu, linear])
    assert MOONS_ONLY in text.caption("learning-curves", both)
    assert MOONS_ONLY in text.caption("learning-curves", [relu, linear])  # History passes a list of runs
    digits = [_run("ReLU", dataset="digits", model="cnn"), _run("ReLU + dropout 0.3", dataset="digits",
                                                                  model="cnn", dropout=0.3)]
    for runs in (digits, [relu], [_run("l", activation="linear", dataset="circles"), _run("r", dataset="circles")]):
        shown = text.caption("learning-curves", runs)
        assert MOONS_ONLY not in shown and "moons" not in shown
        assert shown == text.CAPTIONS["learning-curves"].replace(" " + MOONS_ONLY, "")
        assert shown.startswith("Look for: which variants reach high validation accuracy")
    assert text.caption("boundary", digits) == text.CAPTIONS["boundary"]  # the others stay as they are


def test_a_claim_the_run_cannot_check_is_said_to_be_unchecked_without_an_exception_name():
    exp = Experiment(_run("a").config, [_run("a")])
    missing = Claim("B is good.", C.within("val_acc", "b", 0.8, 1.0))
    v = missing.verdict(exp)
    assert not v.checked and not v.holds
    said, why = text.claim_line(missing, v)
    assert said == "– Not checked on this run: B is good."
    assert "StopIteration" not in why and "lacks a variant" in why
    fails = Claim("A is perfect.", C.within("val_acc", "a", 0.99, 1.0))
    assert text.claim_line(fails, fails.verdict(exp)) == ("✗ Not borne out by this run: A is perfect.",
                                                          f"({fails.verdict(exp).evidence})")
    assert fails.verdict(exp).checked  # measured, and not borne out: a failure, not "unchecked"
    holds = Claim("A is good.", C.within("val_acc", "a", 0.8, 1.0))
    assert text.claim_line(holds, holds.verdict(exp))[0] == "✓ A is good."
