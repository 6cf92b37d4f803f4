"""Claims: the sentences a student reads about results, each with the check that makes it true.

A sentence on the page that states a result ("dropout narrows the loss gap", "agreement is 1 for
ReLU") is a `Claim`: its text and a function of an Experiment that says whether this run's
numbers bear it out, with the numbers as evidence. Presets carry their own claims (their "what to
look for" text is made of them); `UNIVERSAL` claims hold for every variant they apply to, in
every experiment. tests/test_claims.py runs every preset over 5 seeds and checks every claim, so a
sentence that the numbers contradict fails the build; the page shows each claim with this run's
evidence, so a student sees the numbers behind every sentence.

Pure numpy on results: no torch, no UI.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from core.results import Experiment, RunResult


@dataclass(frozen=True)
class Verdict:
    holds: bool
    evidence: str   # the numbers that decide it, e.g. "loss gap: ReLU 0.16 ± 0.05 → ReLU + dropout 0.00 ± 0.02"


@dataclass(frozen=True)
class Claim:
    text: str
    check: Callable[[Experiment], Verdict]

    def verdict(self, exp: Experiment) -> Verdict:
        """Never raises: a run that lacks a variant or an epoch cannot bear the claim out."""
        try:
            return self.check(exp)
        except (KeyError, StopIteration, IndexError, ValueError) as e:
            return Verdict(False, f"not measured in this run ({type(e).__name__})")


LABELS = {"val_acc": "val acc", "train_acc": "train acc", "gap_loss": "loss gap", "gap_acc": "acc gap",
          "val_loss": "val loss", "train_loss": "train loss", "dead": "dead units", "revived": "revived units",
          "zero_frac": "zero fraction", "mask_agreement": "mask agreement", "mask_flip": "mask flips"}


def final(run: RunResult, metric: str, layer: int | None = 0) -> np.ndarray:
    """Each seed's last measured value (diverged seeds: their last finite one), NaN dropped.
    Per-layer metrics: one layer (default the first hidden layer), or layer=None for the sum
    over layers of a count / the mean over layers of a fraction."""
    v = run.final(metric)
    if v.ndim == 2:
        if layer is None:
            v = np.nansum(v, 1) if metric in ("dead", "revived", "negative", "saturated") else np.nanmean(v, 1)
        else:
            v = v[:, layer]
    return v[np.isfinite(v)]


def pm(v: np.ndarray, digits: int = 3) -> str:
    """'0.908 ± 0.005' (mean ± std over seeds), or the one value."""
    if len(v) == 0:
        return "n/a"
    if len(v) == 1:
        return f"{v[0]:.{digits}f}"
    return f"{v.mean():.{digits}f} ± {v.std():.{digits}f}"


def _where(layer: int | None) -> str:
    return "" if layer == 0 else " (all layers)" if layer is None else f" (layer {layer + 1})"


def higher(metric: str, a: str, b: str, by: float = 0.0, layer: int | None = 0) -> Callable[[Experiment], Verdict]:
    """Variant a's mean final value exceeds variant b's by more than `by`."""
    def check(exp: Experiment) -> Verdict:
        va, vb = final(exp.run(a), metric, layer), final(exp.run(b), metric, layer)
        holds = len(va) > 0 and len(vb) > 0 and va.mean() > vb.mean() + by
        return Verdict(bool(holds), f"{LABELS.get(metric, metric)}{_where(layer)}: {a} {pm(va)}, {b} {pm(vb)}")
    return check


def lower(metric: str, a: str, b: str, by: float = 0.0, layer: int | None = 0) -> Callable[[Experiment], Verdict]:
    """Variant a's mean final value is below variant b's by more than `by`."""
    def check(exp: Experiment) -> Verdict:
        va, vb = final(exp.run(a), metric, layer), final(exp.run(b), metric, layer)
        holds = len(va) > 0 and len(vb) > 0 and va.mean() < vb.mean() - by
        return Verdict(bool(holds), f"{LABELS.get(metric, metric)}{_where(layer)}: {a} {pm(va)}, {b} {pm(vb)}")
    return check


def within(metric: str, variant: str, lo: float, hi: float, layer: int | None = 0,
           every_seed: bool = False) -> Callable[[Experiment], Verdict]:
    """Variant's mean final value (or every seed's, if every_seed) lies in [lo, hi]."""
    def check(exp: Experiment) -> Verdict:
        v = final(exp.run(variant), metric, layer)
        vals = v if every_seed else v.mean(keepdims=True) if len(v) else v
        holds = len(v) > 0 and bool(((vals >= lo) & (vals <= hi)).all())
        return Verdict(holds, f"{LABELS.get(metric, metric)}{_where(layer)}: {variant} {pm(v)}")
    return check


def both(*checks: Callable[[Experiment], Verdict]) -> Callable[[Experiment], Verdict]:
    """All of the checks hold; the evidence of each, joined."""
    def check(exp: Experiment) -> Verdict:
        vs = [c(exp) for c in checks]
        return Verdict(all(v.holds for v in vs), "; ".join(v.evidence for v in vs))
    return check


def verdicts(claims: tuple[Claim, ...], exp: Experiment) -> list[tuple[Claim, Verdict]]:
    return [(c, c.verdict(exp)) for c in claims]
