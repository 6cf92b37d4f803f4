"""The plain PyTorch loop the lab is benchmarked against.

This is what a competent user would write in a notebook instead of using the lab: an
`nn.Sequential`, a `TensorDataset` + `DataLoader(shuffle=True)`, a stock optimizer, one seed
after another, and forward hooks on the activation (and dropout) modules to measure the same
metrics the lab reports, with the lab's definitions (see `core.results.METRIC_HELP`).

It is deliberately *not* hand-optimized (no batched seeds, no manual batching, no fused
metrics), and deliberately *not* slowed down either: hooks are attached only while measuring,
evaluation runs under `torch.no_grad()` in one pass over each set, and nothing is copied that a
user would not copy.

    python -m bench.baseline                 # reference workload W1
    python -m bench.baseline --epochs 20 --seeds 2
    python -m bench.baseline --threads 1      # what the lab itself uses for steps this small

`train_plain` uses whatever thread count the process has (PyTorch's default, unless something
earlier in the process, e.g. `core.train`, called `torch.set_num_threads`): time it in its own
process. On a 2-core machine shared with other work, 2 threads slow down several-fold.
"""
from __future__ import annotations

import argparse
import time
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.data import DataLoader, TensorDataset

from core.config import Config, validate
from core.cost import PROBE_MLP, probe_rows
from core.data import make_dataset
from core.registry import ACTIVATIONS, INITS, OPTIMIZERS

# Reference workload W1 (the speed issue's benchmark).
W1: dict[str, Any] = dict(
    dataset="moons", n_samples=1000, val_fraction=0.2, model="mlp", depth=2, width=64,
    activation="relu", dropout=0.5, optimizer="adam", lr=0.01, batch_size=64, epochs=200, seeds=5,
)

# Same definition as the lab: train-mode and mask metrics use the first min(N_train, PROBE_MLP) inputs.
PROBE_SIZE = PROBE_MLP

def build_mlp(cfg: Config, n_in: int, n_out: int) -> tuple[nn.Sequential, list[nn.Module], list[nn.Module]]:
    """Linear -> [BatchNorm1d] -> activation -> [Dropout], `depth` times, then a Linear head.

    Returns the model, its activation modules and, per hidden layer, the module whose output is
    the layer's output (the Dropout if there is one, else the activation).
    """
    layers: list[nn.Module] = []
    acts: list[nn.Module] = []
    outs: list[nn.Module] = []
    width_in = n_in
    for _ in range(cfg.depth):
        layers.append(nn.Linear(width_in, cfg.width))
        if cfg.batchnorm:
            layers.append(nn.BatchNorm1d(cfg.width))
        act = ACTIVATIONS[cfg.activation].module()
        layers.append(act)
        acts.append(act)
        out = act
        if cfg.dropout > 0:
            out = nn.Dropout(cfg.dropout)
            layers.append(out)
        outs.append(out)
        width_in = cfg.width
    layers.append(nn.Linear(width_in, n_out))
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, nn.Linear):
            INITS[cfg.init].nn_init(m)  # torch.nn.init's version of the scheme (nothing for "default")
    return model, acts, outs


def build_cnn(cfg: Config, n_out: int) -> tuple[nn.Sequential, list[nn.Module], list[nn.Module]]:
    """The lab's CNN on 8x8 images, returned as build_mlp's: build_mlp's hidden layers with a
    Conv2d(3x3, padding 1) for each Linear, BatchNorm2d for each BatchNorm1d and Dropout2d (whole
    channels, as the lab drops them) for each Dropout, then a 2x2 max pool, Flatten and a Linear
    head. Default initialization (the oracle test sets the weights)."""
    mlp, acts, outs = build_mlp(cfg, 1, n_out)  # 1 input channel
    as_conv = {nn.Linear: lambda m: nn.Conv2d(m.in_features, m.out_features, 3, padding=1),
               nn.BatchNorm1d: lambda m: nn.BatchNorm2d(m.num_features),
               nn.Dropout: lambda m: nn.Dropout2d(m.p)}
    hidden = [as_conv.get(type(m), lambda m: m)(m) for m in list(mlp)[:-1]]
    outs = [hidden[list(mlp).index(o)] for o in outs]  # the Dropout2d that replaced each Dropout
    return nn.Sequential(*hidden, nn.MaxPool2d(2), nn.Flatten(), nn.Linear(cfg.width * 16, n_out)), acts, outs


@torch.no_grad()
def set_weights(model: nn.Sequential, weights: list[tuple[torch.Tensor, ...]]) -> None:
    """Put given weights into a model from build_mlp/build_cnn, in PyTorch's own layouts, module
    by module in order: (weight, bias) for each Linear/Conv2d, (weight, bias, running_mean,
    running_var) for each batch norm. The oracle test (tests/test_oracle.py) runs the plain
    definitions on the lab's weights this way."""
    names = ("weight", "bias", "running_mean", "running_var")
    kinds = (nn.Linear, nn.Conv2d, nn.BatchNorm1d, nn.BatchNorm2d)
    modules = [m for m in model if isinstance(m, kinds)]
    for m, tensors in zip(modules, weights, strict=True):
        for name, t in zip(names, tensors, strict=False):
            getattr(m, name).copy_(t)


def _by_unit(t: torch.Tensor) -> torch.Tensor:
    """t as (observations, units): an MLP's (inputs, units) as it is; a CNN's (inputs, channels,
    height, width) as (inputs x pixels, channels), since a channel is one unit, as in the lab.
    Then .all(dim=0) asks "on every input (and pixel)"."""
    return t if t.dim() == 2 else t.transpose(1, -1).reshape(-1, t.shape[1])


class Recorder:
    """Forward hooks that keep the last input and output of each watched module."""

    def __init__(self, modules: list[nn.Module]):
        self.inputs: dict[nn.Module, torch.Tensor] = {}
        self.outputs: dict[nn.Module, torch.Tensor] = {}
        self.handles = [m.register_forward_hook(self._hook) for m in modules]

    def _hook(self, module, inp, out):
        self.inputs[module] = inp[0].detach()
        self.outputs[module] = out.detach()

    def remove(self):
        for h in self.handles:
            h.remove()


Previous = tuple[list[torch.Tensor], list[torch.Tensor]]  # per layer: probe on-states, dead units


def measure_epoch(cfg: Config, model: nn.Sequential, acts: list[nn.Module], outs: list[nn.Module],
                  data, prev: Previous | None) -> tuple[dict[str, Any], Previous]:
    """All metrics of one network at one epoch. Returns the record and, for the next epoch's
    mask_flip and revived, the eval-mode on/off states of the probe and the dead units."""
    x_tr, y_tr, x_va, y_va = data.x_train, data.y_train, data.x_val, data.y_val
    n_probe = probe_rows(cfg, len(x_tr))  # PROBE_SIZE for an MLP, fewer inputs for a CNN
    has_mask = ACTIVATIONS[cfg.activation].mask is not None  # sigmoid is never off: no mask figures
    rec: dict[str, Any] = {}
    rec_layers: dict[str, list] = {k: [] for k in (
        "dead", "revived", "negative", "saturated", "zero_frac", "act_zero_frac_train",
        "dropout_zero_frac_train", "on_frac_train", "mask_flip", "mask_agreement")}
    hooks = Recorder(list(dict.fromkeys(acts + outs)))
    try:
        # --- eval mode: losses, accuracies, dead/negative/saturated units --------------------
        model.eval()
        with torch.no_grad():
            logits = model(x_tr)
            train_loss = F.cross_entropy(logits, y_tr).item()
            train_acc = (logits.argmax(1) == y_tr).float().mean().item()
            pre = [hooks.inputs[a] for a in acts]
            post = [hooks.outputs[a] for a in acts]
            logits_va = model(x_va)
            val_loss = F.cross_entropy(logits_va, y_va).item()
            val_acc = (logits_va.argmax(1) == y_va).float().mean().item()
        rec.update(train_loss=train_loss, val_loss=val_loss, train_acc=train_acc, val_acc=val_acc,
                   gap_loss=val_loss - train_loss, gap_acc=train_acc - val_acc)

        on_now, dead_now = [], []
        for i, (act, z, a) in enumerate(zip(acts, pre, post, strict=True)):
            dead = (_by_unit(a) == 0).all(dim=0)
            dead_now.append(dead)
            rec_layers["dead"].append(float(dead.sum()))
            rec_layers["revived"].append(None if prev is None else float((prev[1][i] & ~dead).sum()))
            rec_layers["negative"].append(float((_by_unit(z) <= 0).all(dim=0).sum()))
            # Derivative of the (elementwise) activation by autograd.
            zg = z.clone().requires_grad_(True)
            with torch.enable_grad():
                (d,) = torch.autograd.grad(act(zg).sum(), zg)
            d = _by_unit(d)
            sat = (d < 0.01 * ACTIVATIONS[cfg.activation].grad_max).all(dim=0).sum()
            rec_layers["saturated"].append(float(sat))
            rec_layers["zero_frac"].append((a == 0).float().mean().item())
            on = a[:n_probe] > 0
            on_now.append(on)
            rec_layers["mask_flip"].append(
                None if prev is None or not has_mask else (on != prev[0][i]).float().mean().item())

        # --- train mode on the probe: what the activation and dropout zero while training ------
        # BatchNorm would update its running statistics in train mode: save and restore them.
        # The probe's dropout masks come from a forked RNG, so measuring does not change training.
        saved = {k: v.clone() for k, v in model.named_buffers()}
        model.train()
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            probe = x_tr[:n_probe]
            model(probe)
            a1 = [hooks.outputs[a] for a in acts]
            o1 = [hooks.outputs[o] for o in outs]
            model(probe)
            o2 = [hooks.outputs[o] for o in outs]
        for a, d1, d2 in zip(a1, o1, o2, strict=True):
            rec_layers["act_zero_frac_train"].append((a == 0).float().mean().item())
            rec_layers["dropout_zero_frac_train"].append(((a != 0) & (d1 == 0)).float().mean().item())
            rec_layers["on_frac_train"].append((a > 0).float().mean().item() if has_mask else None)
            rec_layers["mask_agreement"].append(((d1 > 0) == (d2 > 0)).float().mean().item() if has_mask else None)
        model.load_state_dict(saved, strict=False)
    finally:
        hooks.remove()
    rec.update(rec_layers)
    return rec, (on_now, dead_now)


def train_plain(cfg: Config, measure: bool = True) -> dict[str, Any]:
    """Train cfg.seeds networks one after another, the plain way; measure every epoch if asked.

    Returns {"seconds": total wall time, "final_val_acc": [per seed],
             "history": [per (seed, epoch) record, in the lab's record format]}.
    """
    if cfg.model != "mlp":
        raise NotImplementedError("the plain baseline covers model=mlp only")
    t0 = time.perf_counter()
    data = make_dataset(cfg)
    n_in, n_out = data.n_features, data.n_classes
    n_train = len(data.x_train)
    batch_size = cfg.batch_size or n_train
    history: list[dict[str, Any]] = []
    final_val_acc: list[float] = []

    for seed in cfg.seed_list:
        torch.manual_seed(seed)
        model, acts, outs = build_mlp(cfg, n_in, n_out)
        opt = OPTIMIZERS[cfg.optimizer].plain(cfg, model.parameters())  # stock torch.optim
        loader = DataLoader(TensorDataset(data.x_train, data.y_train), batch_size=batch_size, shuffle=True)
        prev = None
        val_acc = float("nan")
        for epoch in range(cfg.epochs + 1):
            if epoch > 0:
                model.train()
                for xb, yb in loader:
                    opt.zero_grad()
                    loss = F.cross_entropy(model(xb), yb)
                    loss.backward()
                    opt.step()
            if measure:
                rec, prev = measure_epoch(cfg, model, acts, outs, data, prev)
                val_acc = rec["val_acc"]
                history.append({"seed": seed, "epoch": epoch, **rec,
                                "seconds": time.perf_counter() - t0})
        if not measure:
            model.eval()
            with torch.no_grad():
                val_acc = (model(data.x_val).argmax(1) == data.y_val).float().mean().item()
        final_val_acc.append(val_acc)

    return {"seconds": time.perf_counter() - t0, "final_val_acc": final_val_acc, "history": history}


def warmup() -> None:
    """Pay one-time costs (torch.optim's first use imports torch._dynamo, about a second; first
    calls of each kernel) so a timed run measures the work, as `core.train.warmup` does for the lab."""
    train_plain(validate(n_samples=100, epochs=1, seeds=1, batch_size=32, dropout=0.5))


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description="Plain PyTorch baseline on workload W1")
    p.add_argument("--epochs", type=int, default=W1["epochs"])
    p.add_argument("--seeds", type=int, default=W1["seeds"])
    p.add_argument("--no-measure", action="store_true", help="train only, no per-epoch metrics")
    p.add_argument("--threads", type=int, default=0,
                   help="torch.set_num_threads(N) first (default 0: leave PyTorch's default, as a user would)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = validate({**W1, "epochs": args.epochs, "seeds": args.seeds})
    warmup()
    make_dataset(cfg)  # cached: the timed run below measures training and metrics, not data generation
    out = train_plain(cfg, measure=not args.no_measure)
    accs = out["final_val_acc"]
    print(f"plain baseline: {cfg.seeds} seeds x {cfg.epochs} epochs, measure={not args.no_measure}, "
          f"torch threads={torch.get_num_threads()}")
    print(f"seconds: {out['seconds']:.2f} ({out['seconds'] / cfg.seeds:.2f} per seed)")
    print(f"final val acc per seed: {', '.join(f'{a:.4f}' for a in accs)}")
    print(f"mean final val acc: {sum(accs) / len(accs):.4f}")


if __name__ == "__main__":
    main()
