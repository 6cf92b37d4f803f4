"""The oracle test (micrograd's pattern): `core.metrics` against the plain definitions in
bench/baseline.py (nn.Sequential, forward hooks, one seed at a time) on the same weights.

The lab's batched network is built and given non-trivial weights; each seed's slice is copied
into the baseline's plain model (`baseline.set_weights`); both measure; every metric both define
is compared. Dropout masks are random, so the baseline is handed the lab's own masks: they are
drawn again from the lab's measuring stream (`SeedStreams(seeds, MEASURE)`, the draw
`metrics.train_mode_zeros` makes) and a forward hook on each `nn.Dropout` multiplies by them,
exactly as the lab does (`a * keep`).

Exact where the arithmetic is the same: counts of units (dead, negative, saturated), accuracies
and the fractions both sides compute as one count over one total (zero_frac, mask_flip; the lab
divides in float64 and rounds to float32, which gives the correctly rounded float32 quotient,
the baseline's float32 mean). A count could differ only if a value sat within rounding of a
threshold (z at 0, a derivative at 1% of its maximum), and none does for these weights.
Tolerances, where the arithmetic differs:
- losses: the lab takes logsumexp - logit[y] per row and sums in float64; F.cross_entropy takes
  log_softmax and a float32 mean, whose rounding over a few hundred rows reaches about ten float32
  ulps (relative 1e-6; the lab's float64 sum is the closer of the two to a float64 reference);
  relative 1e-5;
- train-mode fractions: the lab computes 1 - nonzeros/n and (k - j)/n, the baseline a count of
  zeros over n: one float32 rounding apart (below 1e-6).
"""
from __future__ import annotations

import math

import pytest
import torch

from bench import baseline
from core.config import validate
from core.cost import probe_rows
from core.data import make_dataset
from core.metrics import measure
from core.models import MEASURE, BatchedNet, SeedStreams
from core.registry import ACTIVATIONS

# n_samples 400 leaves 280 training inputs: more than the MLP's probe of 256, so the probe's cut is
# compared too. Three layers: a later layer sees an earlier layer's dropout.
BASE = dict(dataset="moons", n_samples=400, depth=3, width=16, seeds=2)
CNN = dict(dataset="digits", model="cnn", n_samples=300, depth=2, width=4, seeds=2)
CASES = {
    **{name: dict(activation=name) for name in ACTIVATIONS},
    "relu+dropout": dict(activation="relu", dropout=0.3),
    "tanh+dropout": dict(activation="tanh", dropout=0.5),
    "linear+dropout": dict(activation="linear", dropout=0.3),
    "relu+batchnorm": dict(activation="relu", batchnorm=True),
    "sigmoid+batchnorm": dict(activation="sigmoid", batchnorm=True),
    "cnn": dict(CNN, activation="relu"),
    "cnn+dropout": dict(CNN, activation="relu", dropout=0.3),
    "cnn+batchnorm": dict(CNN, activation="tanh", batchnorm=True),
    "cnn+batchnorm+dropout": dict(CNN, activation="relu", batchnorm=True, dropout=0.3),
}
EXACT = ("train_acc", "val_acc", "gap_acc", "dead", "revived", "negative", "saturated", "zero_frac", "mask_flip")
LOSSES = ("train_loss", "val_loss", "gap_loss")
TRAIN_MODE = ("act_zero_frac_train", "dropout_zero_frac_train", "on_frac_train", "mask_agreement")


def lab_net(settings: dict):
    """The lab's network for these settings, with weights that make every metric non-trivial."""
    cfg = validate(**{**BASE, **settings})
    data = make_dataset(cfg)
    net = BatchedNet(cfg, data.n_features, data.n_classes)
    g = torch.Generator().manual_seed(0)
    d = cfg.depth
    with torch.no_grad():
        # Batch norm away from the identity: random scales, shifts and running statistics.
        for gamma in net.params[2 * d + 2::2]:
            gamma.uniform_(0.5, 1.5, generator=g)
        for beta in net.params[2 * d + 3::2]:
            beta.normal_(0.0, 0.3, generator=g)
        for mean, var in net.bn_stats:
            mean.normal_(0.0, 0.3, generator=g)
            var.uniform_(0.5, 1.5, generator=g)
        # Unit 0 of the first layer far below 0 on every input: dead (ReLU), negative (all),
        # saturated (tanh, sigmoid, ELU), whatever the initialization gave.
        shift = net.params[2 * d + 3] if cfg.batchnorm else net.params[1]
        shift[..., 0] = -50.0
    return cfg, data, net


def nudge(net: BatchedNet) -> None:
    """Move every weight a little, as an epoch of training would: some on/off states flip."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in net.params:
            p.add_(0.2 * torch.randn(p.shape, generator=g))


def torch_weights(net: BatchedNet, i: int) -> list[tuple[torch.Tensor, ...]]:
    """Seed i's weights in PyTorch's layouts, module by module (see baseline.set_weights).

    The lab stores an MLP layer's weight as (inputs, units) for its batched matmul, nn.Linear
    as (units, inputs); conv weights and the output layer are stored as PyTorch does."""
    c, p, d = net.cfg, net.params, net.cfg.depth
    out: list[tuple[torch.Tensor, ...]] = []
    for k in range(d):
        w = p[2 * k][i]
        out.append((w if net.cnn else w.t(), p[2 * k + 1][i].reshape(-1)))
        if c.batchnorm:
            mean, var = net.bn_stats[k]
            out.append((p[2 * d + 2 + 2 * k][i], p[2 * d + 3 + 2 * k][i], mean[i].reshape(-1), var[i].reshape(-1)))
    out.append((p[2 * d][i], p[2 * d + 1][i].reshape(-1)))
    return out


def lab_masks(cfg, n_train: int) -> torch.Tensor | None:
    """(seeds, depth, 2 * probe, width, 1): the dropout multipliers train_mode_zeros draws from a
    fresh measuring stream for its two passes (first probe rows, then second). One per unit: a
    CNN drops whole channels (nn.Dropout2d), the same factor at every pixel."""
    if cfg.dropout == 0:
        return None
    P = probe_rows(cfg, n_train)
    return SeedStreams(cfg.seed_list, MEASURE).keep_mask(cfg.dropout, cfg.depth, 2 * P, cfg.width, 1)


def plain_model(cfg, data, net: BatchedNet, i: int, keep: torch.Tensor | None):
    """The baseline's model with seed i's weights; with dropout, each nn.Dropout applies the lab's
    masks in train mode: the probe's first pass gets rows :P, the second rows P:."""
    if cfg.model == "cnn":
        model, acts, outs = baseline.build_cnn(cfg, data.n_classes)
    else:
        model, acts, outs = baseline.build_mlp(cfg, data.n_features, data.n_classes)
    baseline.set_weights(model, torch_weights(net, i))
    if keep is not None:
        P = keep.shape[2] // 2
        for layer, module in enumerate(outs):
            k = keep[i, layer]
            passes = iter([k[:P], k[P:]])

            def apply_mask(mod, inp, out, passes=passes):
                # (rows, units) for an MLP; (rows, channels, 1, 1) spread over a CNN's pixels
                x = inp[0]
                return x * next(passes).reshape(*x.shape[:2], *[1] * (x.dim() - 2)) if mod.training else None

            module.register_forward_hook(apply_mask)
    return model, acts, outs


def both(settings: dict):
    """-> (cfg, [lab's records at two epochs], [per seed: baseline's records at two epochs])."""
    cfg, data, net = lab_net(settings)
    xy = (data.x_train, data.y_train, data.x_val, data.y_val)
    keep = lab_masks(cfg, len(data.x_train))
    lab, plain, prev_lab, prev_plain = [], [[] for _ in cfg.seed_list], None, [None] * cfg.seeds
    for _ in range(2):  # two epochs: the second has a mask_flip against the first
        m, prev_lab = measure(net, *xy, SeedStreams(cfg.seed_list, MEASURE), prev_lab)
        lab.append(m)
        for i in range(cfg.seeds):
            model, acts, outs = plain_model(cfg, data, net, i, keep)
            rec, prev_plain[i] = baseline.measure_epoch(cfg, model, acts, outs, data, prev_plain[i])
            plain[i].append(rec)
        nudge(net)
    return cfg, lab, plain


def as_list(v) -> list[float]:
    """A baseline figure as a list of floats (None, the first epoch's mask_flip, as NaN)."""
    v = v if isinstance(v, list) else [v]
    return [math.nan if x is None else x for x in v]


def compare(cfg, lab, plain, names=EXACT + LOSSES + TRAIN_MODE, layers=None) -> None:
    for epoch, m in enumerate(lab):
        for i in range(cfg.seeds):
            for name in names:
                got = m[name][i].reshape(-1).tolist()
                want = as_list(plain[i][epoch][name])
                if layers is not None:
                    got, want = [got[k] for k in layers], [want[k] for k in layers]
                where = f"{name}, seed {i}, epoch {epoch}"
                if name in EXACT:
                    assert got == pytest.approx(want, rel=0, abs=0, nan_ok=True), where
                elif name in LOSSES:  # gap_loss is a difference of two losses: their error, absolute
                    assert got == pytest.approx(want, rel=1e-5, abs=1e-5), where
                else:
                    assert got == pytest.approx(want, rel=0, abs=1e-6, nan_ok=True), where


@pytest.mark.parametrize("case", list(CASES))
def test_lab_metrics_equal_the_plain_definitions_on_the_same_weights(case):
    cfg, lab, plain = both(CASES[case])
    compare(cfg, lab, plain)
    # Not a comparison of zeros: the figures each case is about are there.
    first = lab[0]
    assert first["negative"][:, 0].min() >= 1  # unit 0 of layer 0, pushed below 0
    if cfg.activation != "sigmoid":  # sigmoid's outputs are all > 0: always on, nothing flips
        assert (lab[1]["mask_flip"] > 0).any()  # the nudge flipped some on/off states
    if cfg.activation in ("relu", "tanh", "sigmoid", "elu"):
        assert first["saturated"][:, 0].min() >= 1
    if cfg.activation == "relu" and cfg.model == "mlp":
        assert (lab[1]["revived"] > 0).any()  # the nudge brought dead units back
    if cfg.dropout:
        assert (first["dropout_zero_frac_train"] > 0).all()
        assert (first["mask_agreement"] < 1).all()


BN_DROPOUT = dict(activation="relu", batchnorm=True, dropout=0.3)


def test_batchnorm_with_dropout_first_layer_and_eval_figures_agree():
    cfg, lab, plain = both(BN_DROPOUT)
    compare(cfg, lab, plain, EXACT + LOSSES)
    compare(cfg, lab, plain, TRAIN_MODE, layers=[0])


def test_batchnorm_with_dropout_later_layers_equal_two_separate_passes():
    # Issue #10: the lab once measured both train-mode passes in one forward over [probe; probe],
    # so batch norm took its statistics over both passes' rows (whose dropout masks differ).
    # Now they are two forwards, each with its own statistics, as two passes of a plain model.
    cfg, lab, plain = both(BN_DROPOUT)
    compare(cfg, lab, plain, TRAIN_MODE, layers=list(range(1, cfg.depth)))
