"""Batched networks: `seeds` independent networks stored as stacked weights, run as one model.

Seed i owns slice i of every parameter. Every operation acts on each slice alone (batched
matmul, grouped convolution, per-slice batch norm), and the loss is a sum of per-seed losses,
so gradients never mix between seeds: seed i trains exactly as it would alone.
Randomness is per seed too: each seed has its own generators for initial weights, batch
order and dropout masks, so adding seeds never changes what seed i sees.

Several variants may be slices of one network (core.slices): each slice then has its own
activation, dropout p and initialization, and draws exactly what its variant's seed draws alone.
"""
from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from core import cost
from core.config import Config
from core.fallback import private_op, warn_missing
from core.registry import INITS
from core.slices import SlicedActivation, Slices, activation_of
from core.streams import INIT, MASK_DRAW_ELEMENTS, MEASURE, TRAIN, SeedStreams, seed_generators  # noqa: F401 - their home is core.streams

Tensor = torch.Tensor
BN_MOMENTUM = 0.1
BN_EPS = 1e-5


THRESHOLD_BACKWARD = private_op(torch.ops.aten, "threshold_backward")  # autograd's ReLU backward


def act_backward(act, grad: Tensor, z: Tensor) -> Tensor:
    """d(loss)/dz from d(loss)/d(act(z)): autograd's own kernel for ReLU, else grad * act'(z);
    a SlicedActivation does so run by run, over `grad` itself."""
    if isinstance(act, SlicedActivation):
        return act.backward_(grad, z, act_backward)
    if act.saturates_where_negative:
        return relu_backward(grad, z)
    return grad * act.grad(z)


def relu_backward(grad: Tensor, z: Tensor) -> Tensor:
    """grad where z > 0, else 0: aten's threshold_backward (autograd's ReLU backward), or where
    this torch lacks it, torch.where with the same result."""
    if THRESHOLD_BACKWARD is not None:
        return THRESHOLD_BACKWARD(grad, z, 0.0)
    warn_missing("torch.ops.aten.threshold_backward", "torch.where(z > 0, grad, 0)")
    return torch.where(z > 0, grad, 0.0)


def reused_buffer(bufs: dict, key: object, shape: tuple[int, ...]) -> Tensor:
    """bufs[key] if it fits `shape`, else a new one stored there. A buffer is kept at the largest
    first dimension (seeds) asked for, and a smaller ask gets its front: passes over fewer
    snapshots reuse the buffers of full ones instead of paying page faults for fresh ones."""
    t = bufs.get(key)
    if t is None or t.shape[1:] != shape[1:] or t.shape[0] < shape[0]:
        t = bufs[key] = torch.empty(shape)
    return t if t.shape[0] == shape[0] else t[: shape[0]]


@dataclass
class Layer:
    """What one hidden layer produced: pre-activation z, activation a, after dropout d.

    Shapes are (seeds, inputs, units, positions): positions is 1 for an MLP and the 8x8
    pixels for a CNN, so metrics reduce the same way for both."""
    z: Tensor
    a: Tensor
    d: Tensor


@dataclass
class BatchedNet:
    """cfg gives the shapes (model, depth, width, batch norm); `slices` what each slice is (by
    default cfg's seeds, activation, dropout and init). With slices, cfg.dropout > 0 must hold
    exactly when some slice drops units."""
    cfg: Config
    n_in: int
    n_classes: int
    params: list[Tensor] = field(default_factory=list)
    bn_stats: list[tuple[Tensor, Tensor]] = field(default_factory=list)  # running (mean, var) per layer
    slices: Slices | None = None

    def __post_init__(self):
        if self.slices is None:
            self.slices = Slices.of([self.cfg])
        sl = self.slices
        self.S = len(sl)
        self.act = activation_of(sl.activations)
        # One p for every slice (a float) where they agree: then masks are drawn as they always were.
        self.p = sl.dropouts[0] if len(set(sl.dropouts)) == 1 else np.array(sl.dropouts)
        self.drops = any(q > 0 for q in sl.dropouts)
        if self.drops != (self.cfg.dropout > 0):
            raise ValueError("cfg.dropout > 0 must say whether some slice drops units (core.metrics reads it)")
        self.cnn = self.cfg.model == "cnn"
        gens = seed_generators(list(sl.seeds), 0)
        per_seed = [self._init_one(g, init) for g, init in zip(gens, sl.inits, strict=True)]
        # Stack seed by seed: parameter j of seed i becomes slice i of stacked parameter j.
        self.params = [torch.stack([p[j] for p in per_seed]).requires_grad_(True) for j in range(len(per_seed[0]))]
        H = self.cfg.width
        shape = (self.S, 1, H, 1)
        self.bn_stats = [(torch.zeros(shape), torch.ones(shape)) for _ in range(self.cfg.depth)] \
            if self.cfg.batchnorm else []

    @property
    def layers(self) -> int:
        return self.cfg.depth

    def _init_one(self, g: torch.Generator, init: str) -> list[Tensor]:
        c, H, out = self.cfg, self.cfg.width, []
        w, b = INITS[init].weight, INITS[init].bias  # each (shape, fan_in, fan_out, generator)
        if self.cnn:
            cin = 1
            for _ in range(c.depth):
                fi, fo = cin * 9, H * 9
                out += [w((H, cin, 3, 3), fi, fo, g), b((H,), fi, fo, g)]
                cin = H
            fi = H * 16  # after a 2x2 max pool of the 8x8 maps
        else:
            fi = self.n_in
            for _ in range(c.depth):
                out += [w((fi, H), fi, H, g), b((1, H), fi, H, g)]
                fi = H
        # The output layer is stored (classes, inputs), as nn.Linear.weight: with two classes a
        # batched matmul into 2 columns is ~5x slower on this CPU than one into 2 rows (see forward).
        out += [w((fi, self.n_classes), fi, self.n_classes, g).t().contiguous(),
                b((1, self.n_classes), fi, self.n_classes, g).t().contiguous()]
        if c.batchnorm:
            out += [t for _ in range(c.depth) for t in (torch.ones(H), torch.zeros(H))]
        return out

    def _bn(self, h: Tensor, layer: int, train: bool, update: bool) -> Tensor:
        """Batch norm per seed and unit over inputs and positions; h is (S, N, H, P)."""
        n = 2 * self.cfg.depth + 2
        gamma = self.params[n + 2 * layer].view(self.S, 1, -1, 1)
        beta = self.params[n + 2 * layer + 1].view(self.S, 1, -1, 1)
        rm, rv = self.bn_stats[layer]
        if train:
            mean = h.mean(dim=(1, 3), keepdim=True)
            var = h.var(dim=(1, 3), keepdim=True, unbiased=False)
            if update:
                with torch.no_grad():
                    cnt = h.shape[1] * h.shape[3]
                    rm.mul_(1 - BN_MOMENTUM).add_(BN_MOMENTUM * mean)
                    rv.mul_(1 - BN_MOMENTUM).add_(BN_MOMENTUM * var * cnt / max(cnt - 1, 1))
        else:
            mean, var = rm, rv
        return (h - mean) * torch.rsqrt(var + BN_EPS) * gamma + beta

    def stacked(self, k: int, share_buffers: BatchedNet | None = None) -> BatchedNet:
        """An empty network of k * S slices: room for k snapshots of this one's weights, snapshot
        j in slices j*S..(j+1)*S. Measuring several epochs' snapshots in one pass makes every op
        k times larger and k times rarer (see core.train: measuring overlaps training).
        share_buffers: a stack whose scratch buffers this one may reuse (never run at once)."""
        n = k * self.S
        buffers = share_buffers.__dict__.setdefault("_buffers", {}) if share_buffers is not None else {}
        return self._resliced(n, lambda t: t.detach().new_empty((n, *t.shape[1:])), buffers)

    @torch.no_grad()
    def put(self, slot: int, other: BatchedNet) -> None:
        """Copy `other`'s weights (and batch-norm statistics) into snapshot `slot` of this stack."""
        lo, hi = slot * other.S, (slot + 1) * other.S
        for a, b in zip(self.params, other.params, strict=True):
            a[lo:hi].copy_(b)
        for (m, v), (m2, v2) in zip(self.bn_stats, other.bn_stats, strict=True):
            m[lo:hi].copy_(m2)
            v[lo:hi].copy_(v2)

    def head(self, n: int) -> BatchedNet:
        """The first n slices as a network of their own (views, no copy), sharing this one's
        scratch buffers: it is never run at the same time as this one."""
        if n == self.S:
            return self
        return self._resliced(n, lambda t: t[:n], self.__dict__.setdefault("_buffers", {}))

    def rows(self, lo: int, hi: int) -> BatchedNet:
        """Slices lo..hi of every snapshot of this network (of this stack: period = len(slices))
        as a network of their own, with copies of their weights: for measuring each activation's
        slices apart (core.metrics). Its scratch buffers are kept with this network's."""
        period = len(self.slices)
        k = self.S // period
        sl = self.slices
        sub = Slices(sl.seeds[lo:hi], sl.activations[lo:hi], sl.dropouts[lo:hi], sl.inits[lo:hi])
        t = copy.copy(self)
        t.slices, t.S = sub, k * (hi - lo)
        t.act = activation_of(sub.activations)
        t.p = sub.dropouts[0] if len(set(sub.dropouts)) == 1 else np.array(sub.dropouts)
        t.drops = any(q > 0 for q in sub.dropouts)
        t.cfg = dataclasses.replace(self.cfg, seeds=t.S, dropout=max(sub.dropouts))

        def take(x: Tensor) -> Tensor:
            return x.detach().unflatten(0, (k, period))[:, lo:hi].flatten(0, 1).contiguous()
        t.params = [take(p) for p in self.params]
        t.bn_stats = [(take(m), take(v)) for m, v in self.bn_stats]
        t._buffers = self.__dict__.setdefault("_buffers", {}).setdefault(("rows", lo, hi), {})
        return t

    def _resliced(self, n: int, make: Callable[[Tensor], Tensor], buffers: dict) -> BatchedNet:
        """This network with n slices: every parameter and statistic made by `make`."""
        t = copy.copy(self)
        t.S = n
        if isinstance(self.act, SlicedActivation):
            t.act = self.act.resized(n)
        t.params = [make(p) for p in self.params]
        t.bn_stats = [(make(m), make(v)) for m, v in self.bn_stats]
        t._buffers = buffers
        return t

    def _scratch(self, key: object, shape: tuple[int, ...]) -> Tensor:
        """A reused buffer of this shape (see reused_buffer): a part of a stack (head) uses the
        front of the full stack's buffer."""
        return reused_buffer(self.__dict__.setdefault("_buffers", {}), key, shape)

    @property
    def units_per_input(self) -> int:
        """Hidden outputs per input over all layers (a CNN counts every channel at every pixel)."""
        return cost.units_per_input(self.cfg)

    def forward(self, x: Tensor, train: bool, streams: SeedStreams | None = None,
                record: bool = False, update_bn: bool = True,
                inspect: Callable[[int, Tensor | None, Tensor, Tensor], None] | None = None,
                transposed: bool = False, keep: Tensor | None = None) -> tuple[Tensor, list[Layer]]:
        """x: (S, B, *input) — each seed its own batch. Returns logits (S, B, C), or (S, C, B) if
        transposed, and, if record, the layers.

        train=True uses batch statistics and draws dropout masks from `streams` (or uses `keep`,
        drawn beforehand by dropout_masks).
        inspect(layer, z, a, d) (no grad) sees each hidden layer as it is computed, so the metrics
        can reduce it at once instead of keeping every layer. Its tensors are reused buffers, valid
        only during the call; when the activation has an in-place form (ReLU), z is overwritten
        by a and inspect receives z=None."""
        c, S = self.cfg, self.S
        B = x.shape[1]
        recs: list[Layer] = []
        # A pass that keeps no layer may write each layer into a buffer reused epoch after epoch:
        # a fresh 1 MB tensor costs more in page faults than the matmul that fills it.
        reuse = not record and not torch.is_grad_enabled()
        scratch = reuse and not self.cnn
        if train and keep is None:
            keep = self._keep(streams, B)
        if self.cnn:
            h = x.transpose(0, 1).reshape(B, S, 8, 8)  # (B, S*C_in, 8, 8), C_in = 1
        else:
            h = x
        for i in range(c.depth):
            w, b = self.params[2 * i], self.params[2 * i + 1]
            if self.cnn:
                z = F.conv2d(h, w.flatten(0, 1), b.flatten(), padding=1, groups=S)  # (B, S*H, 8, 8)
                z4 = z.view(B, S, c.width, 64).transpose(0, 1)                       # (S, B, H, 64)
            else:
                out = self._scratch(("z", train, i, B), (S, B, c.width)) if scratch else None
                z4 = torch.baddbmm(b, h, w, out=out).unsqueeze(-1)                     # (S, B, H, 1)
            if c.batchnorm:
                z4 = self._bn(z4, i, train, update_bn)
            in_place = inspect is not None and reuse and self.act.fn_ is not None
            if in_place:  # the metrics need only a
                a4 = self.act.fn_(z4)
            elif scratch and isinstance(self.act, SlicedActivation):
                a4 = self.act.fn(z4, out=self._scratch(("a", train, i, B), z4.shape))
            else:
                a4 = self.act.fn(z4)
            d4 = a4
            if keep is not None:
                out = self._scratch(("d", i, B), a4.shape) if scratch else None
                d4 = torch.mul(a4, keep[:, i], out=out)
            if inspect is not None:
                inspect(i, None if in_place else z4, a4, d4)
            if record:
                recs.append(Layer(z4, a4, d4))
            if self.cnn:
                h = d4.transpose(0, 1).reshape(B, S * c.width, 8, 8)
            else:
                h = d4.squeeze(-1)
        if self.cnn:
            h = F.max_pool2d(h, 2).view(B, S, -1).transpose(0, 1)                      # (S, B, H*16)
        return (self._logits_t(h) if transposed else self._logits(h)), recs

    def dropout_masks(self, streams: SeedStreams, batch_sizes: list[int]) -> Iterator[Tensor | None]:
        """The masks that forward(train=True) / set_grads would draw for these batches one after
        another (the same bits), drawn several batches at a time: fewer, larger draws."""
        if not self.drops:
            yield from [None] * len(batch_sizes)
            return
        per_input = self.S * math.prod(self._keep_shape(1))
        group = max(1, MASK_DRAW_ELEMENTS // (per_input * max(batch_sizes)))
        for lo in range(0, len(batch_sizes), group):
            yield from streams.keep_masks(self.p, [self._keep_shape(b) for b in batch_sizes[lo: lo + group]])

    def _keep_shape(self, B: int) -> tuple[int, ...]:
        # The CNN drops whole channels (nn.Dropout2d): one draw per (input, channel), shared by
        # its 64 pixels. With a draw per pixel, the final 2x2 max-pool picks the largest of four
        # pixels each scaled by 0 or 1/(1-p), and a maximum of scaled survivors is larger on
        # average than the maximum of the unscaled pixels: pooled train-mode features came out
        # larger than eval-mode ones (2.05x on a trained network, issue #11), breaking inverted
        # dropout's promise that they match on average. A channel's factor k is the same at every
        # pixel, so pooling commutes with it (max(k*a) = k*max(a) for k >= 0) and the promise
        # holds (tests/test_models.py). Channels are the CNN's units everywhere else in the lab
        # (dead, mask figures), so dropout drops units, as in the MLP.
        return (self.cfg.depth, B, self.cfg.width, 1)

    def _keep(self, streams: SeedStreams | None, B: int) -> Tensor | None:
        """(S, depth, B, width, 1) dropout multipliers, or None without dropout (a CNN's apply to
        every pixel of a channel, see _keep_shape).

        One draw for every layer's mask at once, laid out layer by layer so that each layer's
        mask is one contiguous block per seed. Inverted dropout, as nn.Dropout: a unit survives
        with probability 1-p and is scaled by 1/(1-p)."""
        if not self.drops:
            return None
        return streams.keep_mask(self.p, *self._keep_shape(B))

    def _logits_t(self, h: Tensor) -> Tensor:
        """Logits transposed, (S, C, B): W (S, C, H) @ h^T. A matmul into C rows, not C columns."""
        n = 2 * self.cfg.depth
        return torch.baddbmm(self.params[n + 1], self.params[n], h.transpose(1, 2))

    def _logits(self, h: Tensor) -> Tensor:
        """Logits (S, B, C): _logits_t transposed into place (a small copy)."""
        return self._logits_t(h).transpose(1, 2).contiguous()  # argmax on the transposed view is slow

    @property
    def manual_backward(self) -> bool:
        """Whether `set_grads` applies: MLP without batch norm."""
        return not self.cnn and not self.cfg.batchnorm

    @torch.no_grad()
    def set_grads(self, x: Tensor, y: Tensor, streams: SeedStreams | None, weight: Tensor | None = None,
                  keep: Tensor | None = None) -> None:
        """One training step's forward and backward, by hand, for an MLP without batch norm.

        Loss: sum over seeds of each seed's mean cross-entropy on its batch (seed i's slice of the
        gradient is seed i's own gradient); `weight` (S,) scales each seed's term (0 retires a seed).
        The arithmetic is autograd's, op for op, without its per-op bookkeeping, which dominates a
        step this small (tests/test_models.py checks every gradient against autograd).
        Draws dropout masks exactly as `forward(train=True)` does, unless given `keep`."""
        c, S, B = self.cfg, self.S, x.shape[1]
        if keep is None:
            keep = self._keep(streams, B)
        hs, zs = [x], []
        h = x
        for i in range(c.depth):
            z = torch.baddbmm(self.params[2 * i + 1], h, self.params[2 * i])
            a = self.act.fn_in_place(z) if isinstance(self.act, SlicedActivation) else None
            a = self.act.fn(z) if a is None else a
            h = a * keep[:, i, ..., 0] if keep is not None else a
            zs.append(z)
            hs.append(h)
        n = 2 * c.depth
        # Transposed, (S, C, B), like the output weight (see _init_one).
        gt = torch.softmax(self._logits_t(h), 1)
        gt.scatter_add_(1, y.unsqueeze(1), torch.full((S, 1, B), -1.0))     # softmax - one-hot
        gt.mul_(1.0 / B if weight is None else weight.view(S, 1, 1) / B)   # d(mean CE)/d(logits)
        grads: list[Tensor] = [None] * n + [torch.bmm(gt, h), gt.sum(2, keepdim=True)]
        dh = torch.bmm(gt.transpose(1, 2), self.params[n])
        for i in reversed(range(c.depth)):
            if keep is not None:
                dh = dh * keep[:, i, ..., 0]
            dz = act_backward(self.act, dh, zs[i])
            grads[2 * i] = torch.bmm(hs[i].transpose(1, 2), dz)
            grads[2 * i + 1] = dz.sum(1, keepdim=True)
            if i > 0:
                dh = torch.bmm(dz, self.params[2 * i].transpose(1, 2))
        for prm, grd in zip(self.params, grads, strict=True):
            prm.grad = grd
