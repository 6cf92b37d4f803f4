"""Random streams per seed: each seed has its own generators for initial weights, batch order,
dropout masks and measuring (INIT, TRAIN, MEASURE), so adding seeds or variants beside it never
changes what it draws (core.models trains on them; core.slices lays variants out as slices).
"""
from __future__ import annotations

import copy
import math

import numpy as np
import torch

Tensor = torch.Tensor
INIT, TRAIN, MEASURE = 0, 1, 2  # independent random streams per seed
MASK_DRAW_ELEMENTS = 2**20  # dropout multipliers drawn at once in training (4 MB)


def seed_generators(seeds: list[int], stream: int) -> list[torch.Generator]:
    """torch generators, one per seed, for the initial weights."""
    return [torch.Generator().manual_seed(s * 1_000_003 + stream * 7_919) for s in seeds]


class SeedStreams:
    """Per-seed random streams for batch order and dropout masks.

    Dropout masks are a large share of a small step, and numpy's PCG64 raw output is far
    cheaper than torch's CPU generator (see keep_mask). Seed i draws from its own stream, so what
    it sees never depends on how many seeds run beside it. Measurement passes use a separate
    stream, so measuring never changes how the networks train.

    draws (one flag per slice, for variants as slices): whether the slice draws dropout masks.
    Slices with the same seed and the same flag make the same draws in the same order (the
    number of words a mask takes depends on shapes only, never on p), so they share one stream:
    its batch orders and random words are drawn once, and each slice thresholds the words with
    its own p. Without draws every slice has a stream of its own. apart (a label per slice): slices
    with different labels never share a stream, so a part of the slices can draw on its own
    (rows(), for measuring each activation's slices apart: core.metrics)."""

    def __init__(self, seeds: list[int], stream: int, draws: list[bool] | None = None,
                 apart: list | None = None):
        keys = list(seeds) if draws is None else list(zip(seeds, draws, apart or [None] * len(seeds), strict=True))
        first = {k: j for j, k in reversed(list(enumerate(keys)))}
        order = sorted(set(first.values()))  # one stream per key, in order of first slice
        self.rngs = [np.random.Generator(np.random.PCG64([seeds[j], stream])) for j in order]
        self._draws = None if draws is None else [draws[j] for j in order]
        pos = {j: i for i, j in enumerate(order)}
        slot = [pos[first[k]] for k in keys]
        self.slot = None if slot == list(range(len(keys))) else np.array(slot)  # slice -> its stream
        self.slices = len(keys)
        self.repeats = 1  # see repeated()

    @property
    def S(self) -> int:
        return self.slices * self.repeats

    def keep_mask(self, p: float | np.ndarray, *shape: int) -> Tensor:
        """(S, *shape) float32: 1/(1-p) where a unit survives, else 0. p may be one per slice
        (an array): a slice with p = 0 keeps every unit (1.0) and draws nothing.

        Survival is decided on raw 16-bit draws (four per 64-bit PCG64 output, read with the
        public `random_raw`): about 10x cheaper than float uniforms, and the drop probability is
        round(p * 65536) / 65536, within 8e-6 of p."""
        return self.keep_masks(p, [shape])[0]

    def keep_masks(self, p: float | np.ndarray, shapes: list[tuple[int, ...]]) -> list[Tensor]:
        """keep_mask for each shape in turn, drawn at once: each seed's stream gives the same
        words in the same order as one keep_mask call per shape would, in one call per seed."""
        ns = [math.prod(s) for s in shapes]
        words = [-(-n // 4) for n in ns]
        W, K = sum(words), self.repeats
        # One call per stream, written straight into place (np.stack's Python would hold the GIL
        # that the training thread needs): repeat k of slice s is row k * slices + s.
        raw = np.empty((K, len(self.rngs), W), np.uint64)
        for s, r in enumerate(self.rngs):
            if self._draws is None or self._draws[s]:  # a stream of slices without dropout never draws
                raw[:, s] = r.bit_generator.random_raw(K * W).reshape(K, W)
        if self.slot is not None:
            raw = raw[:, self.slot]  # slices that share a stream share its words
        bits = raw.reshape(K * self.slices, W).view(np.uint16)
        if np.ndim(p) == 0:
            threshold, scale = np.uint16(min(65535, round(p * 65536))), np.float32(1.0 / (1.0 - p))
        else:  # per slice: p = 0 has threshold 0 (every word survives, words never drawn included) and scale 1
            threshold = np.tile(np.array([min(65535, round(q * 65536)) for q in p], np.uint16), K)[:, None]
            scale = np.tile(np.array([1.0 / (1.0 - q) for q in p], np.float32), K)[:, None]
        keep = bits >= threshold  # one op for all seeds
        out = torch.from_numpy(np.multiply(keep, scale, dtype=np.float32))
        masks, lo = [], 0
        for n, w, shape in zip(ns, words, shapes, strict=True):
            masks.append(out[:, lo: lo + n].view(self.S, *shape))
            lo += 4 * w
        return masks

    def repeated(self, k: int) -> SeedStreams:
        """Streams for k snapshots of the same seeds (see BatchedNet.stacked): snapshot by
        snapshot, each seed draws from its own stream in snapshot order, so k snapshots measured
        in one pass draw exactly what k passes one after another would."""
        out = copy.copy(self)
        out.repeats = self.repeats * k
        return out

    def rows(self, lo: int, hi: int) -> SeedStreams:
        """The streams of slices lo..hi alone (the same generators, which go on from where they
        are), repeated as these are. Their streams must be theirs only (see `apart`)."""
        slot = np.arange(self.slices) if self.slot is None else self.slot
        mine = sorted(set(slot[lo:hi].tolist()))
        if set(slot[:lo].tolist() + slot[hi:].tolist()) & set(mine):
            raise ValueError(f"slices {lo}..{hi} share a stream with others")
        out = copy.copy(self)
        out.rngs = [self.rngs[i] for i in mine]
        out._draws = None if self._draws is None else [self._draws[i] for i in mine]
        pos = {i: n for n, i in enumerate(mine)}
        new = [pos[i] for i in slot[lo:hi].tolist()]
        out.slot = None if new == list(range(hi - lo)) else np.array(new)
        out.slices = hi - lo
        return out

    def permutations(self, n: int) -> Tensor:
        assert self.repeats == 1
        out = np.empty((len(self.rngs), n), np.int64)
        for s, r in enumerate(self.rngs):
            out[s] = r.permutation(n)
        return torch.from_numpy(out if self.slot is None else out[self.slot])
