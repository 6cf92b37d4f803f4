"""Per-slice settings of a batched network: several variants as slices of one model.

A BatchedNet stacks networks as slices of its parameters. Seeds of one variant differ only in
their random streams; variants of a comparison that share shapes and data (core.groups) may
differ in what each slice computes too: its activation, dropout p and initialization (and,
in core.optim, its optimizer, learning rate and weight decay). `Slices` lists these per slice;
`SlicedActivation` applies each run of slices its own activation and looks like a registry
Activation to the metrics. Every operation stays per slice, so slice j computes what its
variant's seed computes alone (tests/test_train.py).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import torch

from core.registry import ACTIVATIONS, Activation

if TYPE_CHECKING:
    from core.config import Config

Tensor = torch.Tensor


@dataclass(frozen=True)
class Slices:
    """What each slice of a batched network is: slice j is network seeds[j] with activations[j],
    dropouts[j] and inits[j]. Variants are laid out one after another, each its seeds in order."""

    seeds: tuple[int, ...]
    activations: tuple[str, ...]
    dropouts: tuple[float, ...]
    inits: tuple[str, ...]

    @classmethod
    def of(cls, configs: Sequence[Config]) -> Slices:
        rows = [(s, c.activation, c.dropout, c.init) for c in configs for s in c.seed_list]
        seeds, acts, drops, inits = zip(*rows, strict=True)
        return cls(seeds, acts, drops, inits)

    def __len__(self) -> int:
        return len(self.seeds)

    @property
    def draws(self) -> list[bool]:
        """Whether each slice draws dropout masks from its random streams (p > 0)."""
        return [p > 0 for p in self.dropouts]


def runs(values: Sequence) -> list[tuple[int, int, object]]:
    """Contiguous runs of equal values: [(start, end, value)]."""
    out: list[tuple[int, int, object]] = []
    for j, v in enumerate(values):
        if out and out[-1][2] == v:
            out[-1] = (out[-1][0], j + 1, v)
        else:
            out.append((j, j + 1, v))
    return out


class PerSlice:
    """A per-slice number that metrics scale by a Python float (`0.01 * act.grad_max`): the
    product is each slice's `0.01 * grad_max` in double precision, rounded once to float32, as
    comparing a float32 tensor with that Python float does for a single activation. Shape (S, 1):
    it broadcasts against per-unit figures (S, units)."""

    def __init__(self, values: Sequence[float]):
        self.values = tuple(values)

    def __rmul__(self, k: float) -> Tensor:
        return torch.tensor([[np.float32(k * v)] for v in self.values], dtype=torch.float32)

    __mul__ = __rmul__


class SlicedActivation:
    """Each contiguous run of slices its own activation (core.registry.ACTIVATIONS), repeating
    every `period` slices: a stack of k snapshots of the same network (BatchedNet.stacked) has
    k * period slices. Traits hold only if every slice has them; there is no in-place form, so
    the metrics keep z and take their general path (the same figures as ReLU's shortcuts)."""

    def __init__(self, names: Sequence[str], S: int | None = None):
        self.names = tuple(names)
        self.period = len(self.names)
        self.S = S if S is not None else self.period
        if self.S % self.period:
            raise ValueError(f"{self.S} slices are not whole repeats of {self.period}")
        self.runs = [(lo, hi, ACTIVATIONS[n]) for lo, hi, n in runs(self.names)]
        acts = [a for _, _, a in self.runs]
        probe = torch.zeros(1)
        self._identity = {id(a) for a in acts if a.fn(probe) is probe}  # linear: nothing to compute
        for trait in ("zero_below", "exact_zeros", "keeps_negative", "saturates"):
            setattr(self, trait, all(getattr(a, trait) for a in acts))
        self.saturates_where_negative = False
        self.fn_ = None
        self.label = " / ".join(a.label for a in acts)
        self.grad_max = PerSlice([ACTIVATIONS[n].grad_max for n in self.names] * (self.S // self.period))

    def resized(self, S: int) -> SlicedActivation:
        return SlicedActivation(self.names, S)

    def blocks(self, S: int, per_slice: int) -> list[tuple[int, int, Activation]] | None:
        """Contiguous blocks of S slices (S / period snapshots) with one activation each, adjacent
        equal ones merged, or None where blocks would not round as a single activation does.

        An elementwise kernel rounds the short tail of a tensor (its last elements, fewer than a
        vector) on another path than its body, and some activations (GELU's erf, tanh) differ
        there in the last bit. A run of one snapshot is contiguous, as alone; across snapshots
        alone sees one contiguous tensor, so cutting it into blocks keeps each element on the path
        it takes alone only if no vector straddles a slice boundary: a slice's element count a
        multiple of 64 (no vector is wider)."""
        k = S // self.period
        if k > 1 and per_slice % 64:
            return None
        out: list[tuple[int, int, Activation]] = []
        for j in range(k):
            for lo, hi, a in self.runs:
                lo, hi = j * self.period + lo, j * self.period + hi
                if out and out[-1][2] is a:
                    out[-1] = (out[-1][0], hi, a)
                else:
                    out.append((lo, hi, a))
        return out

    def map(self, f: Callable[..., Tensor], *tensors: Tensor, out: Tensor | None = None) -> Tensor:
        """f(activation, *parts) on each run's slices of every tensor (S, ...), joined again into
        `out` or a new tensor laid out as the first one (as a single activation's output would
        be: later reductions sum in an order that follows the layout)."""
        z = tensors[0]
        out = torch.empty_like(z) if out is None else out
        blocks = self.blocks(z.shape[0], z[0].numel())
        if blocks is not None:
            for lo, hi, a in blocks:
                out[lo:hi] = f(a, *(t[lo:hi] for t in tensors))
            return out
        # A stack of snapshots whose slices do not split into whole vectors: a run's slices of
        # every snapshot, made one contiguous tensor first, as alone.
        k = z.shape[0] // self.period
        parts, split = out.unflatten(0, (k, self.period)), [t.unflatten(0, (k, self.period)) for t in tensors]
        for lo, hi, a in self.runs:
            parts[:, lo:hi] = f(a, *(t[:, lo:hi].contiguous().flatten(0, 1) for t in split)).unflatten(0, (k, hi - lo))
        return out

    def fn(self, z: Tensor, out: Tensor | None = None) -> Tensor:
        """The activations, into `out` if given (a reused buffer: a fresh large tensor costs more
        in page faults than the arithmetic). Without autograd, an activation with an in-place form
        (ReLU) runs in place on its block of `out`, with no temporary."""
        blocks = self.blocks(z.shape[0], z[0].numel())
        if torch.is_grad_enabled() or out is None or blocks is None:
            return self.map(_apply, z, out=out)
        for lo, hi, a in blocks:
            part = out[lo:hi]
            if a.fn_ is not None:
                a.fn_(part.copy_(z[lo:hi]))
            else:
                part.copy_(a.fn(z[lo:hi]))
        return out

    def grad(self, z: Tensor) -> Tensor:
        return self.map(lambda a, t: a.grad(t), z)

    def fn_in_place(self, z: Tensor) -> Tensor | None:
        """Training's forward without a copy, where every run allows it: each ReLU run in place on
        z, each linear run left as it is; returns z, now the activations (ReLU's backward reads
        where they are positive, which is where z was), or None if some run needs z kept."""
        if any(a.fn_ is None and id(a) not in self._identity for _, _, a in self.runs):
            return None
        for lo, hi, a in self.runs:
            if a.fn_ is not None:
                a.fn_(z[lo:hi])
        return z

    def backward_(self, grad: Tensor, z: Tensor, f: Callable[[Activation, Tensor, Tensor], Tensor]) -> Tensor:
        """f(activation, grad, z) on each run, written over `grad` (which the caller gives up); a
        linear run's gradient passes as it is (alone it is multiplied by ones, which is exact)."""
        for lo, hi, a in self.runs:
            if id(a) not in self._identity:
                grad[lo:hi] = f(a, grad[lo:hi], z[lo:hi])
        return grad


def _apply(a: Activation, t: Tensor) -> Tensor:
    return a.fn(t)


def activation_of(names: Sequence[str]) -> Activation | SlicedActivation:
    """The registry's activation when every slice has the same one (every fast path applies),
    else a SlicedActivation."""
    if len(set(names)) == 1:
        return ACTIVATIONS[names[0]]
    return SlicedActivation(names)
