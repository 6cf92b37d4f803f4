"""What the lab measures about a batched network: losses, accuracies and where its zeros come from.

Pure functions of (network, data). Every figure is per seed (and per hidden layer), computed
for all seeds at once. Definitions are in core.results.METRIC_HELP and README.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from core.models import BatchedNet, Layer, SeedStreams

Tensor = torch.Tensor
# Rows per evaluation chunk are chosen from the layer sizes only, never from the number of
# seeds, so a seed's figures are summed in the same order whether it runs alone or with others.
CHUNK_ELEMENTS = 2**20
PROBE_MLP = 256
PROBE_CNN = 128  # x 1024 channels x 64 pixels stays below 2**24 (see _nnz)


def chunk_rows(net: BatchedNet) -> int:
    per_row = net.cfg.width * (64 if net.cnn else 1) * net.cfg.depth * 3
    return max(16, CHUNK_ELEMENTS // per_row)


def probe_size(net: BatchedNet, n_train: int) -> int:
    return min(n_train, PROBE_CNN if net.cnn else PROBE_MLP)


def _expand(x: Tensor, S: int) -> Tensor:
    return x.unsqueeze(0).expand(S, *x.shape)


@dataclass
class EvalOut:
    loss: Tensor       # (S,) mean cross-entropy
    acc: Tensor        # (S,)
    logits: Tensor | None = None


@torch.no_grad()
def evaluate(net: BatchedNet, x: Tensor, y: Tensor, keep_logits: bool = False) -> EvalOut:
    """Eval-mode loss and accuracy on a whole set, in chunks."""
    S, loss, correct, outs = net.S, torch.zeros(net.S, dtype=torch.float64), torch.zeros(net.S), []
    for lo in range(0, len(x), chunk_rows(net)):
        xb, yb = x[lo: lo + chunk_rows(net)], y[lo: lo + chunk_rows(net)]
        logits, _ = net.forward(_expand(xb, S), train=False)
        ce = F.cross_entropy(logits.flatten(0, 1), yb.repeat(S), reduction="none").view(S, -1)
        loss += ce.double().sum(1)
        correct += (logits.argmax(-1) == yb).float().sum(1)
        if keep_logits:
            outs.append(logits)
    return EvalOut((loss / len(x)).float(), correct / len(x), torch.cat(outs, 1) if keep_logits else None)


@torch.no_grad()
def measure(net: BatchedNet, x_train: Tensor, y_train: Tensor, x_val: Tensor, y_val: Tensor,
            streams: SeedStreams, prev_on: list[Tensor] | None) -> tuple[dict[str, Tensor], list[Tensor]]:
    """All epoch metrics. Returns ({name: (S,) or (S, L)}, this epoch's eval on-states on the probe)."""
    S, L, act = net.S, net.layers, net.act
    n, P = len(x_train), probe_size(net, len(x_train))
    sat_threshold = 0.01 * act.grad_max
    all_zero = [None] * L
    all_neg = [None] * L
    all_sat = [None] * L
    zeros = torch.zeros(S, L, dtype=torch.float64)
    on_probe: list[list[Tensor]] = [[] for _ in range(L)]
    loss, correct = torch.zeros(S, dtype=torch.float64), torch.zeros(S)
    val_loss, val_correct = torch.zeros(S, dtype=torch.float64), torch.zeros(S)
    rows = chunk_rows(net)
    relu = act.saturates_where_negative
    # Training and validation inputs go through the network together (one forward instead of
    # two on W1): the unit statistics are taken on the training rows only.
    x_all, y_all = torch.cat([x_train, x_val]), torch.cat([y_train, y_val])

    for lo in range(0, len(x_all), rows):
        xb, yb = x_all[lo: lo + rows], y_all[lo: lo + rows]
        m = max(0, min(len(xb), n - lo))  # training rows in this chunk, first

        def reduce(i: int, z: Tensor | None, a: Tensor, lo: int = lo, m: int = m) -> None:
            if m == 0:
                return
            a = a[:, :m]
            z = z[:, :m] if z is not None else None
            # a unit is "negative" on every input iff its largest pre-activation is <= 0, "dead"
            # iff its largest and smallest outputs are 0: reductions, no boolean temporaries.
            if relu:
                # ReLU: a = max(z, 0) is 0 exactly where z <= 0 (and so is its derivative), so
                # dead = negative = saturated = "largest output is 0", and outputs are >= 0.
                dead = neg = sat = a.amax(dim=(1, 3)) == 0
                nonzero = torch.sign(a, out=_tmp(0, a)).flatten(1).sum(1)
            else:
                neg = z.amax(dim=(1, 3)) <= 0
                dead = (a.amax(dim=(1, 3)) == 0) & (a.amin(dim=(1, 3)) == 0)
                sat = act.grad(z).amax(dim=(1, 3)) < sat_threshold
                nonzero = _nnz(a)
            if all_zero[i] is None:
                all_zero[i], all_neg[i], all_sat[i] = dead, neg, sat
            else:
                all_zero[i] &= dead
                all_neg[i] &= neg
                all_sat[i] &= sat
            zeros[:, i] += (a[0].numel() - nonzero).double()
            if lo < P:
                on_probe[i].append(_on(a[:, : P - lo]))

        logits, _ = net.forward(_expand(xb, S), train=False, inspect=reduce)
        ce = F.cross_entropy(logits.flatten(0, 1), yb.repeat(S), reduction="none").view(S, -1).double()
        hit = (logits.argmax(-1) == yb).float()
        loss += ce[:, :m].sum(1)
        correct += hit[:, :m].sum(1)
        val_loss += ce[:, m:].sum(1)
        val_correct += hit[:, m:].sum(1)
    positions = 64 if net.cnn else 1
    units = net.cfg.width
    n_val = len(x_val)
    out: dict[str, Tensor] = {
        "train_loss": (loss / n).float(), "train_acc": correct / n,
        "val_loss": (val_loss / n_val).float(), "val_acc": val_correct / n_val,
        "dead": torch.stack([t.sum(1) for t in all_zero], 1).float(),
        "negative": torch.stack([t.sum(1) for t in all_neg], 1).float(),
        "saturated": torch.stack([t.sum(1) for t in all_sat], 1).float(),
        "zero_frac": (zeros / (n * units * positions)).float(),
    }
    out["gap_loss"] = out["val_loss"] - out["train_loss"]
    out["gap_acc"] = out["train_acc"] - out["val_acc"]
    on = [torch.cat(parts, 1) for parts in on_probe]
    if prev_on is None:
        out["mask_flip"] = torch.full((S, L), float("nan"))
    else:
        out["mask_flip"] = torch.stack([_differ(a, b) / a[0].numel() for a, b in zip(on, prev_on, strict=False)], 1)
    out.update(train_mode_zeros(net, x_train[:P], streams))
    return out, on


@torch.no_grad()
def train_mode_passes(net: BatchedNet, x: Tensor, streams: SeedStreams):
    """Two train-mode passes over the same inputs with the same weights (BN statistics untouched)."""
    # One forward over the inputs twice: each row draws its own dropout mask, so the second
    # copy is a second pass (same batch statistics: duplicating rows leaves mean and variance).
    P = len(x)
    _, r = net.forward(_expand(torch.cat([x, x]), net.S), train=True, streams=streams, record=True,
                       update_bn=False)

    def half(k: int) -> list[Layer]:
        return [Layer(t.z[:, k * P:(k + 1) * P], t.a[:, k * P:(k + 1) * P], t.d[:, k * P:(k + 1) * P]) for t in r]

    return half(0), half(1)


def train_mode_zeros(net: BatchedNet, x: Tensor, streams: SeedStreams) -> dict[str, Tensor]:
    r1, r2 = train_mode_passes(net, x, streams)
    n = r1[0].a[0].numel()
    nz_a = [_nnz(r.a) for r in r1]
    # Dropout only zeroes (and scales survivors), so its extra zeros are nnz(a) - nnz(d).
    return {
        "act_zero_frac_train": torch.stack([1.0 - k / n for k in nz_a], 1),
        "dropout_zero_frac_train": torch.stack([(k - _nnz(r.d)) / n for k, r in zip(nz_a, r1, strict=False)], 1),
        "mask_agreement": torch.stack([1.0 - _differ(_on(a.d, _tmp(1, a.d)), _on(b.d, _tmp(2, b.d))) / n
                                       for a, b in zip(r1, r2, strict=False)], 1),
    }


# Counting with float arithmetic: on this CPU build a float comparison that makes a bool tensor
# (t != 0, t > 0) is about 4x slower than sign/abs/sum, and metrics run every epoch.
def _nnz(t: Tensor) -> Tensor:
    """Non-zeros per seed (dim 0). Exact: a float32 sum of ones is exact below 2**24, and every
    tensor counted here is smaller (probe x units, or one evaluation chunk)."""
    return torch.sign(t, out=_tmp(0, t)).abs_().flatten(1).sum(1)


def _differ(a: Tensor, b: Tensor) -> Tensor:
    """How many on/off states (0/1 tensors) differ, per seed: |a - b| is 1 exactly there."""
    return torch.sub(a, b, out=_tmp(0, a)).abs_().flatten(1).sum(1)


def _on(t: Tensor, out: Tensor | None = None) -> Tensor:
    """On/off state (output > 0) as 1.0/0.0."""
    return torch.sign(t, out=out).clamp_min_(0.0)


# Scratch tensors for the temporaries above, per thread (runs measure in several threads) and
# reused epoch after epoch: the allocator hands a freed 1 MB block back to the system, so a
# fresh one each time costs page faults, measured at up to 10x the arithmetic (sign of a
# (5, 51200) tensor: 350 us fresh, 32 us into a reused buffer). Large ones are not kept.
_SCRATCH = threading.local()
_SCRATCH_MAX = 1 << 20  # elements


def _tmp(slot: int, like: Tensor) -> Tensor | None:
    if like.numel() > _SCRATCH_MAX:
        return None
    bufs = _SCRATCH.__dict__.setdefault("bufs", {})
    key = (slot, tuple(like.shape))
    t = bufs.get(key)
    if t is None:
        if len(bufs) > 32:
            bufs.clear()
        t = bufs[key] = torch.empty(like.shape)
    return t
