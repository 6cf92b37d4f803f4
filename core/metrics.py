"""What the lab measures about a batched network: losses, accuracies and where its zeros come from.

Pure functions of (network, data). Every figure is per seed (and per hidden layer), computed
for all seeds at once. Definitions are in core.results.METRIC_HELP and README.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor
from typing import NamedTuple

import torch

from core import cost
from core.models import BatchedNet, Layer, SeedStreams, reused_buffer
from core.slices import SlicedActivation
from core.stopping import chunk_starts

Tensor = torch.Tensor


def chunk_rows(net: BatchedNet) -> int:
    return cost.chunk_rows(net.cfg)


def probe_size(net: BatchedNet, n_train: int) -> int:
    return cost.probe_rows(net.cfg, n_train)


def _expand(x: Tensor, S: int) -> Tensor:
    return x.unsqueeze(0).expand(S, *x.shape)


@torch.no_grad()
def evaluate(net: BatchedNet, x: Tensor, between: Callable[[], None] | None = None) -> Tensor:
    """Eval-mode logits (S, N, C) of every seed on a whole set, in chunks; between() is called
    between two chunks (core.stopping: it may give the evaluation up by raising)."""
    rows = chunk_rows(net)
    return torch.cat([net.forward(_expand(x[lo: lo + rows], net.S), train=False)[0]
                      for lo in chunk_starts(len(x), rows, between)], 1)


class Previous(NamedTuple):
    """What an epoch's measurement hands the next one, per hidden layer: the eval-mode on-states
    on the probe, (S, P, units, positions) 0/1 (mask_flip), and the dead units, (S, units) bool
    (revived)."""

    on: list[Tensor]
    dead: list[Tensor]


def expected_agreement(p: float, on_frac):
    """mask_agreement's expectation with dropout p in the first hidden layer, where on_frac is
    that layer's on_frac_train. There the on/off state before dropout is the same in both passes,
    so a unit that is off agrees; one that is on disagrees exactly when one pass drops it and the
    other does not, with probability 2p(1-p). Deeper, the states before dropout differ between
    passes too (upstream dropout moves their inputs), so agreement is lower: this is an upper
    bound there, with that layer's own on_frac. (The lab drops with probability round(p * 65536) /
    65536, within 8e-6 of p: core.models.SeedStreams.keep_masks.)"""
    return 1.0 - 2.0 * p * (1.0 - p) * on_frac


@torch.no_grad()
def measure(net: BatchedNet, x_train: Tensor, y_train: Tensor, x_val: Tensor, y_val: Tensor,
            streams: SeedStreams, prev: Previous | None, snapshots: int = 1, pool: Executor | None = None,
            between: Callable[[], None] | None = None) -> tuple[dict[str, Tensor], Previous]:
    """All epoch metrics. Returns ({name: (S,) or (S, L)}, what the next epoch compares with).

    `net` may hold several consecutive epochs' weights (BatchedNet.stacked, with `streams`
    repeated to match): every figure is per slice, so this is the same as measuring the snapshots
    one by one, except mask_flip and revived, which compare each snapshot with the one before it.
    prev is then the epoch before the first snapshot, and what is returned is the last snapshot's.
    between() is called between two evaluation chunks (core.stopping: it may give the
    measurement up by raising; nothing outside this call has changed then)."""
    if isinstance(net.act, SlicedActivation):
        return _by_activation(measure, net, x_train, y_train, x_val, y_val, streams=streams, prev=prev,
                              snapshots=snapshots, pool=pool, between=between)
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

    for lo in chunk_starts(len(x_all), rows, between):
        xb, yb = x_all[lo: lo + rows], y_all[lo: lo + rows]
        m = max(0, min(len(xb), n - lo))  # training rows in this chunk, first

        def reduce(i: int, z: Tensor | None, a: Tensor, d: Tensor, lo: int = lo, m: int = m) -> None:
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
                nonzero = _nnz(a, nonneg=True)
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
                on_probe[i].append(_on(a[:, : P - lo], nonneg=relu))

        logits_t, _ = net.forward(_expand(xb, S), train=False, inspect=reduce, transposed=True)
        ce, hit = _ce_hit(logits_t, yb)
        ce, hit = ce.double(), hit.float()
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
    assert S % snapshots == 0, (S, snapshots)
    s = S // snapshots  # seeds per snapshot

    def before(now: list[Tensor], then: list[Tensor] | None) -> list[Tensor]:
        """Each snapshot's previous epoch: `then` for the first, the snapshot before for the others."""
        return [torch.cat([a[:s] if p is None else p, a[:-s]]) for a, p in zip(now, then or [None] * L, strict=True)]

    out["mask_flip"] = torch.stack([_differ(a, b) / a[0].numel()
                                    for a, b in zip(on, before(on, None if prev is None else prev.on), strict=True)], 1)
    # revived: dead at the epoch before, alive now (a count of units, as dead)
    out["revived"] = torch.stack([(b & ~a).sum(1) for a, b in zip(all_zero, before(all_zero, None if prev is None else prev.dead),
                                                                  strict=True)], 1).float()
    if prev is None:  # epoch 0 has no epoch before it
        out["mask_flip"][:s] = float("nan")
        out["revived"][:s] = float("nan")
    out.update(train_mode_zeros(net, x_train[:P], streams))
    if act.mask is None:  # never off (sigmoid): no on/off pattern to compare
        out["mask_flip"][:] = float("nan")
    # copies: views would keep every snapshot's states
    return out, Previous([a[-s:].clone() for a in on], [d[-s:].clone() for d in all_zero])


def _separate_passes(net: BatchedNet) -> bool:
    """Whether the two train-mode passes must be two forwards. One forward over [x; x] is two
    passes only while no layer mixes rows: batch norm takes its statistics over the batch, and
    from the second layer on the rows of the two copies differ (their dropout masks differ), so
    one forward would give both passes the statistics of both."""
    return net.cfg.batchnorm and net.cfg.dropout > 0


def _two_forwards(net: BatchedNet, x: Tensor, streams: SeedStreams, **kw) -> list[list[Layer]]:
    """Two train-mode forwards over x, each with its own batch statistics, with the dropout masks
    one forward over [x; x] would draw (the same bits: first pass rows :P, second P:).
    Returns each pass's recorded layers (empty unless record=True)."""
    P = len(x)
    keep = net._keep(streams, 2 * P)
    return [net.forward(_expand(x, net.S), train=True, keep=keep[:, :, k * P:(k + 1) * P], update_bn=False,
                        **kw)[1] for k in range(2)]


@torch.no_grad()
def train_mode_passes(net: BatchedNet, x: Tensor, streams: SeedStreams):
    """Two train-mode passes over the same inputs with the same weights (BN statistics untouched)."""
    P = len(x)
    if _separate_passes(net):
        first, second = _two_forwards(net, x, streams, record=True)
        return first, second
    # One forward over the inputs twice: each row draws its own dropout mask, so the second
    # copy is a second pass (same batch statistics: duplicating rows leaves mean and variance).
    _, r = net.forward(_expand(torch.cat([x, x]), net.S), train=True, streams=streams, record=True,
                       update_bn=False)

    def half(k: int) -> list[Layer]:
        return [Layer(t.z[:, k * P:(k + 1) * P], t.a[:, k * P:(k + 1) * P], t.d[:, k * P:(k + 1) * P]) for t in r]

    return half(0), half(1)


@torch.no_grad()
def train_mode_zeros(net: BatchedNet, x: Tensor, streams: SeedStreams) -> dict[str, Tensor]:
    """What the activation and dropout zero in training: two train-mode passes over the probe x
    (as train_mode_passes), each layer reduced as it is computed instead of kept."""
    P = len(x)
    nz_a, nz_d, differ, on_a = [], [], [], []
    relu = net.act.saturates_where_negative

    def first_pass(i: int, a: Tensor, d1: Tensor) -> Tensor:
        nz_a.append(_nnz(a, nonneg=relu))
        # on before dropout; ReLU outputs are >= 0, so its on-states are its non-zeros
        on_a.append(nz_a[-1] if relu else _on(a, _tmp(0, a)).flatten(1).sum(1))
        on1 = _on(d1, _tmp(1, d1), nonneg=relu)
        # ReLU outputs are >= 0, so the on-states already count d1's non-zeros.
        nz_d.append(on1.flatten(1).sum(1) if relu else _nnz(d1))
        return on1

    def second_pass(on1: Tensor, d2: Tensor) -> None:
        differ.append(_differ(on1, _on(d2, _tmp(2, d2), nonneg=relu)))

    if _separate_passes(net):
        on_first: list[Tensor] = []

        def reduce(i: int, z: Tensor | None, a: Tensor, d: Tensor) -> None:
            if len(on_first) < net.layers:  # the first pass; its on-states are kept for the second
                on_first.append(first_pass(i, a, d).clone())
            else:
                second_pass(on_first[i], d)

        _two_forwards(net, x, streams, inspect=reduce)
    else:
        def reduce(i: int, z: Tensor | None, a: Tensor, d: Tensor) -> None:
            second_pass(first_pass(i, a[:, :P], d[:, :P]), d[:, P:])

        net.forward(_expand(torch.cat([x, x]), net.S), train=True, streams=streams, update_bn=False, inspect=reduce)
    n = P * net.cfg.width * (64 if net.cnn else 1)
    # Dropout only zeroes (and scales survivors), so its extra zeros are nnz(a) - nnz(d).
    out = {
        "act_zero_frac_train": torch.stack([1.0 - k / n for k in nz_a], 1),
        "dropout_zero_frac_train": torch.stack([(k - j) / n for k, j in zip(nz_a, nz_d, strict=True)], 1),
        "mask_agreement": torch.stack([1.0 - k / n for k in differ], 1),
        "on_frac_train": torch.stack([k / n for k in on_a], 1),
    }
    if net.act.mask is None:  # never off (sigmoid): the mask figures do not apply
        out["mask_agreement"][:] = float("nan")
        out["on_frac_train"][:] = float("nan")
    return out


def _ce_hit(logits_t: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Cross-entropy and argmax == y per row, from transposed logits (S, C, R) and labels (R,).

    Reducing over the short class axis of this layout is about 2x faster than F.cross_entropy
    and argmax on (S, R, C) (bench). For finite logits a hit is exactly argmax's: class y wins
    unless a class scores higher, or the same with a lower index (argmax takes the first).
    A row with a NaN logit is a miss (its loss is NaN too)."""
    S, C, R = logits_t.shape
    yi = y.view(1, 1, R).expand(S, 1, R)
    picked = logits_t.gather(1, yi)                                   # (S, 1, R)
    ce = torch.logsumexp(logits_t, 1) - picked.squeeze(1)
    before = torch.arange(C).view(1, C, 1) < yi                         # classes that win ties against y
    # y must beat every class before it and at least tie the others (itself included); any
    # comparison with NaN is False, so a NaN anywhere in the row makes it a miss.
    wins = torch.where(before, picked > logits_t, picked >= logits_t)
    return ce, wins.all(1)


# Counting with float arithmetic: on this CPU build a float comparison that makes a bool tensor
# (t != 0, t > 0) is about 4x slower than sign/abs/sum, and metrics run every epoch.
def _nnz(t: Tensor, nonneg: bool = False) -> Tensor:
    """Non-zeros per seed (dim 0); nonneg: t is known to be >= 0 (ReLU), so its sign needs no
    abs. Exact: a float32 sum of ones is exact below 2**24, and every tensor counted here is
    smaller (probe x units, or one evaluation chunk)."""
    s = torch.sign(t, out=_tmp(0, t))
    return (s if nonneg else s.abs_()).flatten(1).sum(1)


def _differ(a: Tensor, b: Tensor) -> Tensor:
    """How many on/off states (0/1 tensors) differ, per seed: |a - b| is 1 exactly there."""
    return torch.sub(a, b, out=_tmp(0, a)).abs_().flatten(1).sum(1)


def _on(t: Tensor, out: Tensor | None = None, nonneg: bool = False) -> Tensor:
    """On/off state (output > 0) as 1.0/0.0; nonneg: t is known to be >= 0, so it is its sign."""
    s = torch.sign(t, out=out)
    return s if nonneg else s.clamp_min_(0.0)


# Scratch tensors for the temporaries above, per thread (runs measure in several threads) and
# reused epoch after epoch: the allocator hands a freed 1 MB block back to the system, so a
# fresh one each time costs page faults, measured at up to 10x the arithmetic (sign of a
# (5, 51200) tensor: 350 us fresh, 32 us into a reused buffer). Large ones are not kept.
_SCRATCH = threading.local()
_SCRATCH_MAX = 1 << 23  # elements kept per thread (32 MB), all buffers together


def _tmp(slot: int, like: Tensor) -> Tensor | None:
    """A reused buffer shaped like `like` (core.models.reused_buffer), within this thread's budget."""
    if like.numel() > _SCRATCH_MAX:
        return None
    bufs = _SCRATCH.__dict__.setdefault("bufs", {})
    key = (slot, tuple(like.shape[1:]))
    t = bufs.get(key)
    grows = t is None or t.shape[0] < like.shape[0]
    if grows and sum(b.numel() for k, b in bufs.items() if k != key) + like.numel() > _SCRATCH_MAX:
        bufs.clear()
    return reused_buffer(bufs, key, tuple(like.shape))


def _by_activation(fn, net: BatchedNet, *args, streams: SeedStreams, prev, snapshots: int = 1,
                   pool: Executor | None = None, **kw):
    """fn (measure) on each activation's slices of a network of several (variants as slices,
    core.slices) as a network of their own, with their own streams (core.models.SeedStreams,
    `apart`), joined again slice by slice: each activation takes its own shortcuts (ReLU's), and
    each slice gets what it gets alone. The parts share nothing (weights, streams, previous
    epoch, scratch buffers per thread), so with a `pool` all but the first are measured in its
    threads while this one measures the first: the same numbers, on more cores."""
    period = len(net.slices)
    jobs = []
    for lo, hi, _ in net.act.runs:
        before = None if prev is None else _cut(prev, lo, hi)
        jobs.append((lo, hi, (net.rows(lo, hi), *args, streams.rows(lo, hi), before)))
    later = [pool.submit(fn, *a, snapshots=snapshots, **kw) for _, _, a in jobs[1:]] if pool is not None else None
    first = fn(*jobs[0][2], snapshots=snapshots, **kw)
    done = [first, *(f.result() for f in later)] if later is not None else \
        [first, *(fn(*a, snapshots=snapshots, **kw) for _, _, a in jobs[1:])]
    parts = [(lo, hi, r) for (lo, hi, _), r in zip(jobs, done, strict=True)]
    k = net.S // period
    figures: dict[str, Tensor] = {}
    for name, first in parts[0][2][0].items():
        out = first.new_empty((k * period, *first.shape[1:]))
        for lo, hi, (m, _) in parts:
            out.unflatten(0, (k, period))[:, lo:hi] = m[name].unflatten(0, (k, hi - lo))
        figures[name] = out
    return figures, _join([state for _, _, (_, state) in parts])


def _cut(state, lo: int, hi: int):
    """Slices lo..hi of per-slice state: tensors (slices first), in lists, tuples (named too) and dicts."""
    if torch.is_tensor(state):
        return state[lo:hi]
    if isinstance(state, dict):
        return {k: _cut(v, lo, hi) for k, v in state.items()}
    return _rebuild(state, [_cut(v, lo, hi) for v in state])


def _rebuild(like, items: list):
    """A list or tuple of like's type (a NamedTuple takes its fields one by one) holding items."""
    return like._make(items) if hasattr(like, "_make") else type(like)(items)


def _join(states: list):
    """The inverse of _cut over consecutive parts."""
    first = states[0]
    if torch.is_tensor(first):
        return torch.cat(states)
    if isinstance(first, dict):
        return {k: _join([s[k] for s in states]) for k in first}
    return _rebuild(first, [_join(list(parts)) for parts in zip(*states, strict=True)])
