"""Training: `seeds` networks at once, measured every epoch from epoch 0.

`train(config)` returns a RunResult of plain numbers. `run_experiment(base, variants)` trains
several variants on identical data and seeds, one after another, into one Experiment.
How a run is measured is core.recorder's business, its pictures core.artifacts', its thread
count core.threads'; this module is the loop.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.artifacts import final_artifacts
from core.config import Config
from core.cost import batches
from core.data import Dataset, make_dataset
from core.models import MEASURE, TRAIN, BatchedNet, SeedStreams
from core.optim import SGD, Adam, make_optimizer
from core.recorder import MeasurePolicy, make_recorder
from core.results import Experiment, RunResult
from core.threads import choose_threads

OnEpoch = Callable[[RunResult, int], None]
ShouldStop = Callable[[], bool]
STOP_CHECK_STEPS = 32  # a Stop press is honoured within this many steps, not only at epoch ends
STOP_CHECK_S = 0.1     # ... and within one step once this long has passed since the last check, so
                       # a time limit holds however slow a step is (a wide CNN: seconds per step)
LAB_MEASURING = MeasurePolicy()  # every metric every epoch, beside training when a core is free



def train(config: Config, on_epoch: OnEpoch | None = None, should_stop: ShouldStop | None = None,
          name: str = "run", data: Dataset | None = None, result: RunResult | None = None,
          measure: MeasurePolicy = LAB_MEASURING, max_threads: int | None = None) -> RunResult:
    """Train `config.seeds` networks side by side, measured as `measure` says (every metric at
    every epoch by default), on at most max_threads threads."""
    # Tiny values late in training otherwise fall into denormals and make CPU steps many times
    # slower. The flag is per thread; it is switched off again when training ends.
    torch.set_flush_denormal(True)
    try:
        t0 = time.perf_counter()
        should_stop = should_stop or _never
        res = result if result is not None else RunResult.empty(config, name, config.depth)
        # Start-up (data, networks) can take seconds for a big run: a Stop press or a page that
        # went away is honoured between its steps too, not only once training has begun.
        if should_stop():
            return _stopped_at_start(res, t0)
        data = data if data is not None else make_dataset(config)
        if should_stop():
            return _stopped_at_start(res, t0)
        return _train(config, data, res, on_epoch, should_stop, measure, max_threads, t0)
    finally:
        torch.set_flush_denormal(False)


def _train(cfg: Config, data: Dataset, res: RunResult, on_epoch: OnEpoch | None, should_stop: ShouldStop,
           measure: MeasurePolicy, max_threads: int | None, t0: float) -> RunResult:
    threads = choose_threads(cfg, data.n_features, len(data.x_train), max_threads)
    torch.set_num_threads(threads)
    net = BatchedNet(cfg, n_in=data.n_features, n_classes=data.n_classes)
    opt = make_optimizer(cfg, net.params)
    if should_stop():  # before the first measurement, the last piece of start-up
        return _stopped_at_start(res, t0)
    res.status = "running"
    g_train, g_meas = SeedStreams(cfg.seed_list, TRAIN), SeedStreams(cfg.seed_list, MEASURE)
    log = _Log(res, net, opt, on_epoch, t0)
    x, y = data.x_train, data.y_train
    bounds = batch_bounds(len(x), cfg.batch_size, cfg.batchnorm)
    step, stopped, checked = 0, False, time.perf_counter()
    with make_recorder(measure, net, data, g_meas, log.commit, last_epoch=cfg.epochs, t0=t0, threads=threads,
                       max_threads=max_threads) as recorder:
        recorder.record(0, net)
        for epoch in range(1, cfg.epochs + 1):
            if not log.alive.any():
                break  # every seed diverged
            perm = g_train.permutations(len(x))  # each seed its own order
            xs, ys = x[perm], y[perm]            # one gather per epoch; each step takes a view
            masks = net.dropout_masks(g_train, [hi - lo for lo, hi in bounds])
            weight = log.loss_weight()
            for (lo, hi), keep in zip(bounds, masks, strict=True):
                _step(net, opt, xs[:, lo:hi], ys[:, lo:hi], keep, weight)
                step += 1
                if step % STOP_CHECK_STEPS == 0 or time.perf_counter() - checked >= STOP_CHECK_S:
                    checked = time.perf_counter()
                    if should_stop():
                        stopped = True
                        break
            if stopped:
                break
            recorder.record(epoch, net)
            if should_stop():
                stopped = True
                break
        recorder.flush()
    res.artifacts = final_artifacts(net, data, g_meas)  # after measuring: it draws from the same stream
    res.seconds = time.perf_counter() - t0
    res.status = "stopped" if stopped else "ok" if log.alive.all() else "diverged"
    return res


def _stopped_at_start(res: RunResult, t0: float) -> RunResult:
    """Stopped before anything was measured: no epochs, no pictures."""
    res.status = "stopped"
    res.seconds = time.perf_counter() - t0
    return res


def _never() -> bool:
    return False


def batch_bounds(n: int, batch_size: int, batchnorm: bool = False) -> list[tuple[int, int]]:
    """(start, end) of each step's batch in an epoch of n examples; core.cost.batches decides the
    sizes (batch_size 0 is the whole set; under batch norm no batch has one example)."""
    ends = np.cumsum(batches(n, batch_size, batchnorm)).tolist()
    return list(zip([0, *ends[:-1]], ends, strict=True))


def _step(net: BatchedNet, opt: Adam | SGD, xb: torch.Tensor, yb: torch.Tensor, keep: torch.Tensor | None,
          weight: torch.Tensor | None) -> None:
    """One optimizer step for every seed: forward, backward (by hand where set_grads applies), update.
    weight (S,) is 1 for a training seed and 0 for a retired one; None when every seed trains."""
    if net.manual_backward:
        net.set_grads(xb, yb, None, weight, keep=keep)
    else:
        logits, _ = net.forward(xb, train=True, keep=keep)
        if weight is None:
            # Every seed's batch has the same size b, so the sum over seeds of per-seed mean
            # losses is one summed cross-entropy / b: d(loss)/d(seed i's weights) is seed i's
            # own gradient, computed in one call instead of four.
            loss = F.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="sum") / yb.shape[1]
        else:
            # Retired seeds contribute an exact 0 (their weights are finite zeros: no NaN leaks).
            per_seed = F.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="none").view(net.S, -1).mean(1)
            loss = (per_seed * weight).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
    opt.step()


class _Log:
    """Where measured epochs land (core.recorder's commit), in epoch order, in the training
    thread: the run's curves, divergence and on_epoch.

    A seed whose loss or weights stop being finite is retired: its curve stops at that epoch
    and it trains on as finite zeros that cannot move (see _retire), so the others go on."""

    def __init__(self, res: RunResult, net: BatchedNet, opt: Adam | SGD, on_epoch: OnEpoch | None, t0: float):
        self.res, self.net, self.opt, self.on_epoch, self.t0 = res, net, opt, on_epoch, t0
        self.alive = torch.ones(net.S, dtype=torch.bool)

    def loss_weight(self) -> torch.Tensor | None:
        return None if self.alive.all() else self.alive.float()

    def commit(self, epoch: int, seconds: float, m: dict[str, np.ndarray], finite: np.ndarray) -> None:
        res, cfg = self.res, self.res.config
        if not self.alive.any():
            return  # every seed diverged before this epoch: training stopped there
        for i in np.flatnonzero(self.alive.numpy() & ~finite).tolist():
            self.alive[i] = False
            res.diverged_at[i] = epoch
            self._retire(i)
            res.messages.append(
                f"seed {cfg.seed_list[i]} diverged at epoch {epoch} (loss or weights became NaN/inf); "
                f"its curve stops there. Try a learning rate below {cfg.lr:g}.")
        dead = ~self.alive.numpy()
        for k, v in m.items():
            v = v.copy()
            v[dead] = np.nan  # a diverged seed's curve stops where it diverged
            res.metrics[k][:, epoch] = v
        res.metrics["seconds"][:, epoch] = np.where(dead, np.nan, seconds)
        res.epochs_done = epoch + 1
        res.seconds = time.perf_counter() - self.t0
        if self.on_epoch is not None:
            self.on_epoch(res, epoch)

    @torch.no_grad()
    def _retire(self, i: int) -> None:
        """Freeze seed i at zero weights with zero optimizer state, so it stays finite and its (now
        exactly zero) gradients cannot move it; the other seeds are untouched."""
        net = self.net
        for p in net.params:
            p[i] = 0.0
            for v in self.opt.state.get(p, {}).values():
                if torch.is_tensor(v) and v.dim() > 0 and v.shape[0] == net.S:
                    v[i] = 0.0
        for rm, rv in net.bn_stats:
            rm[i], rv[i] = 0.0, 1.0


def run_experiment(base: Config, variants: dict[str, dict[str, Any]] | None = None,
                   on_epoch: Callable[[Experiment, int, int], None] | None = None,
                   should_stop: ShouldStop | None = None, title: str = "", preset: str = "",
                   max_threads: int | None = None, measure: MeasurePolicy = LAB_MEASURING) -> Experiment:
    """Train each variant (base settings plus its overrides) on the same data and seeds.

    on_epoch(experiment, variant_index, epoch) sees every variant's results so far."""
    variants = variants or {"run": {}}
    configs = {name: base.replace(**ov) for name, ov in variants.items()}
    exp = Experiment(base, [RunResult.empty(c, name, c.depth) for name, c in configs.items()], title, preset)
    for r in exp.runs:
        r.status = "pending"
    stop_all = False
    for vi, run in enumerate(exp.runs):
        if stop_all:
            run.status = "stopped"
            continue
        cb = (lambda res, epoch, vi=vi: on_epoch(exp, vi, epoch)) if on_epoch else None
        train(run.config, on_epoch=cb, should_stop=should_stop, name=run.name, result=run, measure=measure,
              max_threads=max_threads)
        stop_all = run.status == "stopped"
    return exp


def warmup() -> None:
    """Pay one-time start-up costs (first calls of each kernel, autograd's first backward, the
    convolution's first call, about a second, and loading the digits) before a user is waiting.
    Servers call it at start."""
    from core.config import validate

    train(validate(n_samples=100, epochs=1, seeds=1, batch_size=32, dropout=0.5))
    train(validate(n_samples=100, epochs=1, seeds=1, batch_size=32, batchnorm=True, optimizer="momentum"))
    train(validate(dataset="digits", model="cnn", n_samples=100, width=2, depth=1, epochs=1, seeds=1,
                   batch_size=32, dropout=0.5))
