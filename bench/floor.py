"""The arithmetic floor of a workload: the time under which no fp32 code path can train it here.

    python -m bench.floor        # W2's and relu-vs-dropout's floors on this machine

A speed target that asks for less time than a run's unavoidable multiply-adds take at this
machine's best matrix-multiply rate cannot be met by any engine that computes the same numbers:
batching, threads and scheduling only move work around. The count is a lower bound of what
training with every metric every epoch must compute, per network (MLP):

- each training example: the forward pass, the weight gradients (as many multiply-adds as the
  forward) and the input gradients of every layer but the first (backpropagation needs them to
  reach the first layer's weights); batch norm, dropout and elementwise work count as free;
- each epoch's measurement, and epoch 0's: one forward pass over every example (training and
  validation loss and accuracy) and two train-mode passes over the probe (mask agreement);
- nothing for the final pictures.

The rate is the best of `torch.mm` on 2048x2048 matrices (the shape a BLAS runs fastest) on one
thread, times the cores, and on every core at once: small batched matmuls run slower, so the floor
errs low. bench.sweep and bench.__main__ print it beside the targets it bounds.
"""
from __future__ import annotations

import os
import time

import torch

from core.config import Config, validate
from core.cost import examples, forward_macs, n_inputs, probe_rows, split

MATMUL_N = 2048


def network_macs(cfg: Config) -> float:
    """The multiply-adds one network (one seed) of `cfg` cannot avoid (see above); MLPs only."""
    if cfg.model != "mlp":
        raise ValueError(f"model {cfg.model!r}: the floor is counted for MLPs only")
    n_train, _ = split(cfg)
    f = forward_macs(cfg)
    first = n_inputs(cfg) * cfg.width  # the first layer's input gradient is never needed
    train = n_train * (2 * f + (f - first))
    measure = f * (examples(cfg) + 2 * probe_rows(cfg, n_train))
    return cfg.epochs * (train + measure) + measure


def workload_macs(configs: list[Config]) -> float:
    """Every network of an experiment: each variant's (or sweep point's) seeds."""
    return sum(c.seeds * network_macs(c) for c in configs)


def _best_seconds(fn, reps: int) -> float:
    fn()  # warm: the first call pays for allocation and thread start-up
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def matmul_rate(reps: int = 5, n: int = MATMUL_N) -> dict[str, float]:
    """The machine's best fp32 multiply-adds per second: {'one_core', 'cores', 'all_cores', 'best'}
    ('best' is the larger of one core's rate times the cores and every core's at once)."""
    cores = os.cpu_count() or 1
    before = torch.get_num_threads()
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    rates = {}
    try:
        for name, threads in (("one_core", 1), ("all_cores", cores)):
            torch.set_num_threads(threads)
            rates[name] = n ** 3 / _best_seconds(lambda: torch.mm(a, b, out=out), reps)
    finally:
        torch.set_num_threads(before)
    rates["cores"] = float(cores)
    rates["best"] = max(rates["one_core"] * cores, rates["all_cores"])
    return rates


def floor_seconds(configs: list[Config], rate: float) -> float:
    """The least time the experiment's unavoidable multiply-adds take at `rate` (per second)."""
    return workload_macs(configs) / rate


def verdict(name: str, wanted_s: float, floor_s: float) -> str:
    """One line: does the target leave room above the floor, and what efficiency it would need."""
    need = floor_s / wanted_s if wanted_s > 0 else float("inf")
    if need > 1:
        return (f"{name}: asks for {wanted_s:.3g} s, below the floor of {floor_s:.3g} s: out of reach at the "
                "same numbers on this machine")
    return (f"{name}: asks for {wanted_s:.3g} s, above the floor of {floor_s:.3g} s: it would need "
            f"{need:.0%} of the best matmul rate for every multiply-add, everything else free")


def main() -> int:
    from bench.sweep import W2, W2_GRID
    from core.presets import PRESETS

    rate = matmul_rate()
    print(f"best fp32 matmul ({MATMUL_N}x{MATMUL_N}): one core {2 * rate['one_core'] / 1e9:.0f} GFLOP/s, "
          f"all {rate['cores']:g} cores at once {2 * rate['all_cores'] / 1e9:.0f} GFLOP/s; "
          f"floor taken at {2 * rate['best'] / 1e9:.0f} GFLOP/s")
    w2 = [validate({**W2, "dropout": p}) for p in W2_GRID[0][1]]
    preset = PRESETS["relu-vs-dropout"]
    t1 = [validate({**preset.base, **v}) for v in preset.variants.values()]
    for name, configs in (("W2 (90 networks)", w2), ("relu-vs-dropout (12 networks)", t1)):
        macs = workload_macs(configs)
        print(f"{name}: {macs / 1e12:.3f} T multiply-adds at least; floor {floor_seconds(configs, rate['best']):.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
