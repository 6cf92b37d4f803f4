"""The verdict strip: this run's numbers for "does ReLU do what dropout does?", on the first screen.

`verdict(exp)` picks the variants by their settings (activation, dropout), never by name, so a
user's own experiment with a ReLU, a ReLU + dropout and a linear variant gets the strip too:

- mask agreement (first hidden layer) of ReLU and of ReLU + dropout: 1.0 means the same zeros on
  two training passes with the same input and weights (ReLU), below 1 means redrawn zeros (dropout);
- the loss gap (validation minus training loss) without and with dropout;
- the validation accuracy of a linear network and of ReLU.

Each number is the mean over seeds of the last measured epoch, with the seeds' spread (std, as
core.claims prints it). A figure the experiment cannot give (no such variant, nothing measured)
is None. `VERDICT_CLAIM` is the sentence the page builds from these numbers: a core.claims.Claim,
so the page shows it as a fact only when this run bears it out.

Pure numpy on results: no torch, no UI.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.claims import Claim, Verdict, final
from core.results import Experiment, RunResult

SAME = 0.999  # ReLU's agreement is exactly 1 (tested in core.claims); print-rounding slack only


@dataclass(frozen=True)
class Figure:
    """One number of the strip: a variant's mean over seeds and the seeds' spread (std)."""
    variant: str
    mean: float
    spread: float
    seeds: int

    def text(self, digits: int = 3) -> str:
        return f"{self.mean:.{digits}f}" if self.seeds < 2 else f"{self.mean:.{digits}f} ± {self.spread:.{digits}f}"


@dataclass(frozen=True)
class Strip:
    agreement_relu: Figure | None = None
    agreement_dropout: Figure | None = None
    gap_relu: Figure | None = None
    gap_dropout: Figure | None = None
    acc_relu: Figure | None = None
    acc_linear: Figure | None = None
    dropout: float | None = None  # p of the ReLU + dropout variant

    @property
    def empty(self) -> bool:
        return all(getattr(self, f) is None for f in ("agreement_relu", "agreement_dropout", "gap_relu",
                                                       "gap_dropout", "acc_relu", "acc_linear"))


def _pick(exp: Experiment, activation: str, with_dropout: bool) -> RunResult | None:
    """The first variant with this activation and (with_dropout) some dropout or (not) none."""
    for r in exp.runs:
        c = r.config
        if c.activation == activation and (c.dropout > 0) == with_dropout:
            return r
    return None


def _figure(run: RunResult | None, metric: str) -> Figure | None:
    if run is None or run.epochs_done == 0:
        return None
    v = final(run, metric, layer=0)  # per seed, NaN dropped; per-layer metrics: first hidden layer
    if len(v) == 0:
        return None
    return Figure(run.name, float(np.mean(v)), float(np.std(v)), len(v))


def verdict(exp: Experiment) -> Strip:
    """The strip's numbers for this experiment; None for each one it cannot give."""
    relu, relu_d = _pick(exp, "relu", False), _pick(exp, "relu", True)
    linear = _pick(exp, "linear", False)
    return Strip(
        agreement_relu=_figure(relu, "mask_agreement"), agreement_dropout=_figure(relu_d, "mask_agreement"),
        gap_relu=_figure(relu, "gap_loss"), gap_dropout=_figure(relu_d, "gap_loss"),
        acc_relu=_figure(relu, "val_acc"), acc_linear=_figure(linear, "val_acc"),
        dropout=None if relu_d is None else float(relu_d.config.dropout))


def _check(exp: Experiment) -> Verdict:
    s = verdict(exp)
    need = (s.agreement_relu, s.agreement_dropout, s.gap_relu, s.gap_dropout, s.acc_relu, s.acc_linear)
    if any(f is None for f in need):
        raise KeyError("a ReLU, a ReLU + dropout and a linear variant")  # Claim.verdict: not measured
    a, ad, g, gd, acc, accl = need
    parts = (("mask agreement", (f"ReLU {a.text()}", f"ReLU + dropout {ad.text()}")),
             ("loss gap", (f"ReLU {g.text()}", f"ReLU + dropout {gd.text()}")),
             ("val acc", (f"ReLU {acc.text()}", f"linear {accl.text()}")))
    holds = a.mean >= SAME and ad.mean < a.mean and gd.mean < g.mean and acc.mean > accl.mean
    return Verdict(bool(holds), "; ".join(f"{label}: {', '.join(items)}" for label, items in parts), parts)


VERDICT_CLAIM = Claim(
    "No. ReLU's zeros are the same on every pass (mask agreement 1), dropout's are redrawn (below 1); "
    "dropout narrows the loss gap, which ReLU alone leaves open; and ReLU, not dropout, is what lifts "
    "validation accuracy above a linear network's.", _check)
