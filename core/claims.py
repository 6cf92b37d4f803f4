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
from functools import lru_cache

import numpy as np

from core.results import Experiment, RunResult


@dataclass(frozen=True)
class Verdict:
    holds: bool
    evidence: str   # the numbers that decide it, e.g. "loss gap: ReLU + dropout 0.5 0.000 ± 0.022, ReLU 0.160 ± 0.050"
    # the same as (what was measured, (each variant's figure, ...)), ...: `both` merges the figures
    # of several checks under one label, so a variant is named once per quantity
    parts: tuple[tuple[str, tuple[str, ...]], ...] = ()
    checked: bool = True  # False: the run lacks a variant, an epoch or a picture the check needs


def unchecked(e: Exception) -> Verdict:
    """The verdict of a check this run cannot make (it lacks what the check reads)."""
    return Verdict(False, f"not measured in this run ({type(e).__name__})", checked=False)


def said(holds: bool, label: str, *items: str) -> Verdict:
    """A verdict whose evidence is one measured quantity: 'label: item, item'."""
    return Verdict(bool(holds), f"{label}: {', '.join(items)}", ((label, items),))


Check = Callable[[Experiment], Verdict]


# A run that lacks a variant, an epoch or a picture cannot bear a claim out; it never raises.
_MISSING = (KeyError, StopIteration, IndexError, ValueError)


@dataclass(frozen=True)
class Claim:
    text: str
    check: Check

    def verdict(self, exp: Experiment) -> Verdict:
        """Never raises: a run that lacks a variant or an epoch cannot bear the claim out."""
        try:
            return self.check(exp)
        except _MISSING as e:
            return unchecked(e)


def describe(claim: Claim, verdict: Verdict) -> str:
    """The claim as a run's page says it (its evidence goes beside it): a claim this run bears out
    as a fact, any other one never as a fact."""
    return f"✓ {claim.text}" if verdict.holds else f"✗ Not borne out by this run: {claim.text}"


LABELS = {"val_acc": "val acc", "train_acc": "train acc", "gap_loss": "loss gap", "gap_acc": "acc gap",
          "val_loss": "val loss", "train_loss": "train loss", "dead": "dead units", "revived": "revived units",
          "zero_frac": "zero fraction", "mask_agreement": "mask agreement", "mask_flip": "mask flips",
          "dropout_zero_frac_train": "zeroed by dropout", "negative": "negative units"}
COUNTS = ("dead", "revived", "negative", "saturated")


def final(run: RunResult, metric: str, layer: int | None = 0) -> np.ndarray:
    """Each seed's last measured value (diverged seeds: their last finite one), NaN dropped.
    Per-layer metrics: one layer (default the first hidden layer), or layer=None for the sum
    over layers of a count / the mean over layers of a fraction."""
    v = run.final(metric)
    if v.ndim == 2:
        if layer is None:
            v = np.nansum(v, 1) if metric in COUNTS else np.nanmean(v, 1)
        else:
            v = v[:, layer]
    return v[np.isfinite(v)]


def measured(run: RunResult, metric: str) -> np.ndarray:
    """Every finite value the run measured: all seeds, epochs (and layers)."""
    v = run.curve(metric)
    return v[np.isfinite(v)]


def pm(v: np.ndarray, digits: int = 3) -> str:
    """'0.908 ± 0.005' (mean ± std over seeds), or the one value."""
    if len(v) == 0:
        return "n/a"
    if len(v) == 1:
        return f"{v[0]:.{digits}f}"
    return f"{v.mean():.{digits}f} ± {v.std():.{digits}f}"


def span(v: np.ndarray, digits: int = 3) -> str:
    """'1.000' when every value is the same, else 'min–max'."""
    if len(v) == 0:
        return "n/a"
    lo, hi = f"{v.min():.{digits}f}", f"{v.max():.{digits}f}"
    return lo if lo == hi else f"{lo}–{hi}"


def _fmt(metric: str, v: np.ndarray, seeds: bool = False) -> str:
    """mean ± std (or, seeds=True, the seeds' span): counts of units with one decimal / whole."""
    count = metric in COUNTS
    return span(v, 0 if count else 3) if seeds else pm(v, 1 if count else 3)


def _where(layer: int | None) -> str:
    return "" if layer == 0 else " (all layers)" if layer is None else f" (layer {layer + 1})"


def _of(metric: str, run: RunResult, layer: int | None) -> str:
    """' of 128' for a count over all layers, ' of 32' for one layer's: a count with its denominator."""
    if metric not in COUNTS:
        return ""
    width = run.config.width
    return f" of {width * run.layers if layer is None else width}"


def higher(metric: str, a: str, b: str, by: float = 0.0, layer: int | None = 0) -> Check:
    """Variant a's mean final value exceeds variant b's by more than `by`."""
    def check(exp: Experiment) -> Verdict:
        va, vb = final(exp.run(a), metric, layer), final(exp.run(b), metric, layer)
        holds = len(va) > 0 and len(vb) > 0 and va.mean() > vb.mean() + by
        return said(holds, f"{LABELS.get(metric, metric)}{_of(metric, exp.run(a), layer)}{_where(layer)}",
                    f"{a} {_fmt(metric, va)}", f"{b} {_fmt(metric, vb)}")
    return check


def lower(metric: str, a: str, b: str, by: float = 0.0, layer: int | None = 0) -> Check:
    """Variant a's mean final value is below variant b's by more than `by`."""
    def check(exp: Experiment) -> Verdict:
        va, vb = final(exp.run(a), metric, layer), final(exp.run(b), metric, layer)
        holds = len(va) > 0 and len(vb) > 0 and va.mean() < vb.mean() - by
        return said(holds, f"{LABELS.get(metric, metric)}{_of(metric, exp.run(a), layer)}{_where(layer)}",
                    f"{a} {_fmt(metric, va)}", f"{b} {_fmt(metric, vb)}")
    return check


def close(metric: str, a: str, b: str, tol: float, layer: int | None = 0) -> Check:
    """Variants a and b's mean final values differ by at most `tol`."""
    def check(exp: Experiment) -> Verdict:
        va, vb = final(exp.run(a), metric, layer), final(exp.run(b), metric, layer)
        holds = len(va) > 0 and len(vb) > 0 and abs(va.mean() - vb.mean()) <= tol
        return said(holds, f"{LABELS.get(metric, metric)}{_where(layer)}", f"{a} {_fmt(metric, va)}",
                    f"{b} {_fmt(metric, vb)}")
    return check


def within(metric: str, variant: str, lo: float, hi: float, layer: int | None = 0,
           every_seed: bool = False) -> Check:
    """Variant's mean final value (or every seed's, if every_seed) lies in [lo, hi]."""
    def check(exp: Experiment) -> Verdict:
        run = exp.run(variant)
        v = final(run, metric, layer)
        vals = v if every_seed else v.mean(keepdims=True) if len(v) else v
        holds = len(v) > 0 and bool(((vals >= lo) & (vals <= hi)).all())
        seeds = f" (seeds {_fmt(metric, v, seeds=True)})" if every_seed and len(v) > 1 else ""
        return said(holds, f"{LABELS.get(metric, metric)}{_of(metric, run, layer)}{_where(layer)}",
                    f"{variant} {_fmt(metric, v)}{seeds}")
    return check


def everywhere(metric: str, variant: str, lo: float, hi: float) -> Check:
    """Every value the variant measured (every seed, epoch and layer) lies in [lo, hi]."""
    def check(exp: Experiment) -> Verdict:
        return _everywhere(exp.run(variant), metric, lo, hi)
    return check


def _everywhere(run: RunResult, metric: str, lo: float, hi: float) -> Verdict:
    v = measured(run, metric)
    holds = len(v) > 0 and bool(((v >= lo) & (v <= hi)).all())
    return said(holds, f"{LABELS.get(metric, metric)} over every seed, epoch and layer",
                f"{run.name} {_fmt(metric, v, seeds=True)}")


def fewest_in_first(metric: str, variant: str) -> Check:
    """The first hidden layer's mean final value is below every deeper layer's."""
    def check(exp: Experiment) -> Verdict:
        run = exp.run(variant)
        per_layer = np.nanmean(run.final(metric), 0)
        holds = len(per_layer) > 1 and bool((per_layer[0] < per_layer[1:]).all())
        return said(holds, f"{LABELS.get(metric, metric)}{_of(metric, run, 0)} per layer",
                    f"{variant} {' / '.join(f'{v:.1f}' for v in per_layer)}")
    return check


def totals(run: RunResult, metric: str, layers: slice = slice(None)) -> np.ndarray:
    """Each seed's count summed over every measured epoch and the given layers (e.g. revivals over
    a whole run: the per-epoch `revived` counts added up)."""
    v = run.curve(metric)[..., layers]
    return np.nansum(v.reshape(len(v), -1), 1)


def total_above(metric: str, variant: str, lo: float, layers: slice = slice(None), label: str = "") -> Check:
    """Every seed's count, summed over epochs (and the layers), exceeds lo."""
    def check(exp: Experiment) -> Verdict:
        v = totals(exp.run(variant), metric, layers)
        holds = len(v) > 0 and bool((v > lo).all())
        return said(holds, f"{LABELS.get(metric, metric)} over the run{label}", f"{variant} {span(v, 0)}")
    return check


def total_higher(metric: str, a: str, b: str, by: float, layers: slice = slice(None), label: str = "") -> Check:
    """Variant a's count summed over epochs (and layers) exceeds variant b's by more than `by` (means)."""
    def check(exp: Experiment) -> Verdict:
        va, vb = totals(exp.run(a), metric, layers), totals(exp.run(b), metric, layers)
        holds = len(va) > 0 and len(vb) > 0 and va.mean() > vb.mean() + by
        return said(holds, f"{LABELS.get(metric, metric)} over the run{label}", f"{a} {pm(va, 1)}", f"{b} {pm(vb, 1)}")
    return check


def rises(metric: str, variant: str, by: float) -> Check:
    """The variant's final value lies more than `by` above its lowest value (mean over seeds):
    e.g. validation loss climbing back from its minimum."""
    def check(exp: Experiment) -> Verdict:
        curve = exp.run(variant).curve(metric)
        if curve.ndim != 2:
            raise ValueError(f"{metric} is per layer")
        lowest, last = np.nanmin(curve, 1), final(exp.run(variant), metric)
        if len(last) != len(lowest) or len(last) == 0:
            raise ValueError("not every seed measured")
        holds = bool((last - lowest).mean() > by)
        return said(holds, f"{LABELS.get(metric, metric)}, lowest → last", f"{variant} {pm(lowest)} → {pm(last)}")
    return check


def both(*checks: Check) -> Check:
    """All of the checks hold; the evidence of each, joined."""
    def check(exp: Experiment) -> Verdict:
        vs = [c(exp) for c in checks]
        holds = all(v.holds for v in vs)
        if not all(v.parts for v in vs):
            return Verdict(holds, "; ".join(v.evidence for v in vs))
        merged: dict[str, list[str]] = {}
        for v in vs:
            for label, items in v.parts:
                merged.setdefault(label, [])
                merged[label] += [i for i in items if i not in merged[label]]
        parts = tuple((label, tuple(items)) for label, items in merged.items())
        return Verdict(holds, "; ".join(f"{label}: {', '.join(items)}" for label, items in parts), parts)
    return check


# ------------------------------------------------------------------ straight boundaries
STRAIGHT, BENT = 0.999, 0.99  # a straight line reproduces at least / less than this share of the grid


def line_agreement(pred: np.ndarray) -> float:
    """The share of the cells of a (G, G) grid of predicted classes that the best straight line
    reproduces (with more than two classes: the worst pair of classes, each pair's cells alone).

    1.0 for a linear network: its classes are convex regions, any two of them split by a line.
    Grid indices stand in for coordinates, as an affine map keeps lines straight. The best line
    is searched over directions (1°, then 0.03° around the three best) with the best threshold
    for each, so a bent boundary's figure is a close lower bound of the best line's."""
    return _line_agreement(pred.astype(np.int64).tobytes(), pred.shape)


@lru_cache(maxsize=512)  # the page asks again on every rerun; a grid is 6,400 cells
def _line_agreement(raw: bytes, shape: tuple[int, int]) -> float:
    pred = np.frombuffer(raw, dtype=np.int64).reshape(shape)
    ii, jj = np.meshgrid(np.arange(shape[0], dtype=float), np.arange(shape[1], dtype=float), indexing="ij")
    pts, lab = np.stack([ii.ravel(), jj.ravel()], 1), pred.ravel()
    classes = np.unique(lab)
    worst = 1.0
    for i, a in enumerate(classes):
        for b in classes[i + 1:]:
            sel = (lab == a) | (lab == b)
            p, one = pts[sel], lab[sel] == b
            # Off the grid's own directions, so no two cells project to the same point.
            coarse = np.linspace(0, np.pi, 180, endpoint=False) + 0.00123
            sub = (p % 2 == 0).all(1)
            best3 = coarse[np.argsort(_best_cut(p[sub], one[sub], coarse))[-3:]]
            fine = (best3[:, None] + np.linspace(-np.pi / 180, np.pi / 180, 61)).ravel()
            worst = min(worst, float(_best_cut(p, one, fine).max()))
    return worst


def _best_cut(p: np.ndarray, one: np.ndarray, thetas: np.ndarray) -> np.ndarray:
    """Per direction: the share of cells the best threshold on the projection gets right
    (one class on each side, either way round)."""
    # Elementwise and in 32 bits: a (T, 2) @ (2, n) product and 64-bit running sums cost 10x more.
    proj = np.cos(thetas)[:, None] * p[:, 0] + np.sin(thetas)[:, None] * p[:, 1]
    ones_below = np.cumsum(one[np.argsort(proj, axis=1)], axis=1, dtype=np.int32)  # class b among the first k
    n, n1 = len(one), int(one.sum())
    right = np.arange(1, n + 1, dtype=np.int32) - 2 * ones_below + n1  # a below and b above a cut after k
    best = np.maximum(right.max(1), n - right.min(1))
    return np.maximum(best, max(n1, n - n1)) / n


def _line_shares(run: RunResult) -> np.ndarray:
    pred = run.artifacts["boundary"]["pred"]
    return np.array([line_agreement(pred[s]) for s in range(pred.shape[0])])


def _boundary(run: RunResult, straight: bool, any_seed: bool = False) -> Verdict:
    shares = _line_shares(run)
    ok = shares >= STRAIGHT if straight else shares < BENT
    holds = len(shares) > 0 and bool(ok.any() if any_seed else ok.all())
    return said(holds, f"share of the {run.artifacts['boundary']['pred'][0].size} grid cells the best straight "
                       "line reproduces, per seed", f"{run.name} {span(100 * shares, 1)}%")


def straight_boundary(variant: str) -> Check:
    """Every seed's boundary is a straight line: one reproduces at least 99.9% of the grid."""
    return lambda exp: _boundary(exp.run(variant), straight=True)


def bent_boundary(variant: str) -> Check:
    """Every seed's boundary bends: no straight line reproduces 99% of the grid."""
    return lambda exp: _boundary(exp.run(variant), straight=False)


# ------------------------------------------------------------------ universal claims
@dataclass(frozen=True)
class Universal:
    """A sentence about every variant of a kind (`applies`), in any experiment: the captions'
    and the explanation's results. tests/test_claims.py checks it on every variant of every preset."""
    text: str
    applies: Callable[[Experiment, RunResult], bool]
    check: Callable[[Experiment, RunResult], Verdict]

    def verdicts(self, exp: Experiment) -> list[tuple[str, Verdict]]:
        """(variant name, verdict) for each variant it applies to; never raises."""
        out = []
        for run in exp.runs:
            if not self.applies(exp, run):
                continue
            try:
                out.append((run.name, self.check(exp, run)))
            except _MISSING as e:
                out.append((run.name, unchecked(e)))
        return out


def _dropout(run: RunResult) -> bool:
    return run.config.dropout > 0


def _act(run: RunResult) -> str:
    return run.config.activation


def _has_mask(run: RunResult) -> bool:
    # sigmoid is never exactly off (its on/off figures are not applicable); the rest have a sign
    return _act(run) != "sigmoid"


def _is_2d(run: RunResult) -> bool:
    return "boundary" in run.artifacts


def _redraws(exp: Experiment, run: RunResult) -> Verdict:
    v = run.curve("mask_agreement", 0)
    v = v[np.isfinite(v)]
    return said(len(v) > 0 and bool((v < 1).all()), "mask agreement (layer 1) over every seed and epoch",
                f"{run.name} {span(v)}")


def _dropout_zeros(exp: Experiment, run: RunResult) -> Verdict:
    if not _dropout(run):
        return _everywhere(run, "dropout_zero_frac_train", 0.0, 0.0)
    v = run.curve("dropout_zero_frac_train", 0)
    v = v[np.isfinite(v)]
    return said(len(v) > 0 and bool((v > 0).all()), "zeroed by dropout (layer 1) over every seed and epoch",
                f"{run.name} {span(v)}")


def _no_zeros(exp: Experiment, run: RunResult) -> Verdict:
    # Not exactly none: a float32 sum can cancel to exactly 0 (one output in 23,040 on relu-vs-dropout, seed 401).
    return both(lambda _: _everywhere(run, "dead", 0, 0), lambda _: _everywhere(run, "zero_frac", 0, 0.001))(exp)


def _raster_passes(exp: Experiment, run: RunResult) -> Verdict:
    r = run.artifacts["raster"]  # (seeds, layers, 3 passes, inputs, units): on/off
    same = [bool((r[s, :, 0] == r[s, :, 1]).all()) for s in range(r.shape[0])]
    differ = [float((r[s, 0, 0] != r[s, 0, 1]).mean()) for s in range(r.shape[0])]
    holds = all(same) if not _dropout(run) else not any(same) and min(differ) > 0
    return said(holds and len(same) > 0, "cells of the first layer that differ between the two train passes, "
                "per seed", f"{run.name} {span(100 * np.array(differ), 1)}%")


def _relu_partner(exp: Experiment, run: RunResult) -> RunResult | None:
    """The experiment's ReLU variant with the same dropout as this linear one, if any."""
    return next((r for r in exp.runs if _act(r) == "relu" and r.config.dropout == run.config.dropout), None)


def _linear_below_relu(exp: Experiment, run: RunResult) -> Verdict:
    relu = _relu_partner(exp, run)
    va, vl = final(relu, "val_acc"), final(run, "val_acc")
    return said(len(va) and len(vl) and va.mean() > vl.mean(), "val acc", f"{relu.name} {pm(va)}",
                f"{run.name} {pm(vl)}")


SAME_ZEROS = Universal(
    "Without dropout the on/off mask agrees with itself exactly (1.0) on two passes with the same weights.",
    lambda exp, r: not _dropout(r) and _has_mask(r),
    lambda exp, r: _everywhere(r, "mask_agreement", 1.0, 1.0))
REDRAWN_ZEROS = Universal(
    "With dropout the first layer's agreement is below 1: dropout draws new zeros on every pass.",
    lambda exp, r: _dropout(r) and _has_mask(r), _redraws)
DROPOUT_ZEROS = Universal(
    "The hatched part (zeroed by dropout in training) is 0 without dropout and above 0 with it.",
    lambda exp, r: True, _dropout_zeros)
LINEAR_NO_ZEROS = Universal(
    "A linear network has no dead units, and at test time practically no output is exactly 0 (fewer than 1 in "
    "1,000), with or without dropout.",
    lambda exp, r: _act(r) == "linear", _no_zeros)
LEAKY_NOT_DEAD = Universal(
    "Leaky ReLU units are never dead: below 0 their slope is 0.01, not 0.",
    lambda exp, r: _act(r) == "leaky_relu", lambda exp, r: _everywhere(r, "dead", 0, 0))
LINEAR_STRAIGHT = Universal(
    "A linear network, with or without dropout, can only draw a straight line.",
    lambda exp, r: _act(r) == "linear" and _is_2d(r), lambda exp, r: _boundary(r, straight=True))
RELU_BENDS = Universal(
    "ReLU can bend it (a ReLU network that lost most of its units may not).",
    lambda exp, r: _act(r) == "relu" and _is_2d(r), lambda exp, r: _boundary(r, straight=False, any_seed=True))
RASTER_PASSES = Universal(
    "Without dropout the two train passes look the same; with dropout they differ.",
    lambda exp, r: _has_mask(r), _raster_passes)
LINEAR_BELOW_RELU = Universal(
    "On the moons a linear network levels off below the validation accuracy of ReLU with the same dropout.",
    lambda exp, r: _act(r) == "linear" and r.config.dataset == "moons" and _relu_partner(exp, r) is not None,
    _linear_below_relu)

UNIVERSAL: tuple[Universal, ...] = (SAME_ZEROS, REDRAWN_ZEROS, DROPOUT_ZEROS, LINEAR_NO_ZEROS, LEAKY_NOT_DEAD,
                                    LINEAR_STRAIGHT, RELU_BENDS, RASTER_PASSES, LINEAR_BELOW_RELU)


def verdicts(claims: tuple[Claim, ...], exp: Experiment) -> list[tuple[Claim, Verdict]]:
    return [(c, c.verdict(exp)) for c in claims]
