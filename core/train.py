"""Training: every seed of every variant at once, measured every epoch from epoch 0.

`train(config)` returns a RunResult of plain numbers. `train_group(configs)` trains variants that
share shapes and data (core.groups) as slices of one batched model, all reaching each epoch
together. `run_experiment(base, variants)` trains an experiment's groups one after another into one
Experiment. How a run is measured is core.recorder's business, its pictures core.artifacts', its
thread count core.threads'; this module is the loop.
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.artifacts import data_points, final_artifacts, slice_artifacts
from core.config import Config
from core.cost import batches
from core.data import Dataset, make_dataset
from core.groups import group_configs, shape_key
from core.models import MEASURE, TRAIN, BatchedNet, SeedStreams
from core.optim import SGD, Adam, Sliced, make_sliced_optimizer
from core.recorder import MeasurePolicy, Recorder, make_recorder
from core.results import Experiment, RunResult
from core.slices import Slices
from core.snapshots import GroupSnapshots
from core.stopping import Checks, Stopped, late, time_limited
from core.threads import choose_threads

OnEpoch = Callable[[RunResult, int], None]
OnGroupEpoch = Callable[[int, int], None]  # (index of the config in its group, epoch)
ShouldStop = Callable[[], bool]
STOP_CHECK_STEPS = 32  # a Stop press is honoured within this many steps, not only at epoch ends
STOP_CHECK_S = 0.1     # ... and within one step, or one chunk of a measurement or a picture
                       # (core.stopping), once this long has passed since the last check, so a
                       # time limit holds however slow a step is (a wide CNN: seconds per step)
LAB_MEASURING = MeasurePolicy()  # every metric every epoch, beside training when a core is free


def train(config: Config, on_epoch: OnEpoch | None = None, should_stop: ShouldStop | None = None,
          name: str = "run", data: Dataset | None = None, result: RunResult | None = None,
          measure: MeasurePolicy = LAB_MEASURING, max_threads: int | None = None) -> RunResult:
    """Train `config.seeds` networks side by side, measured as `measure` says (every metric at
    every epoch by default), on at most max_threads threads."""
    res = result if result is not None else RunResult.empty(config, name, config.depth)
    cb = None if on_epoch is None else (lambda _, epoch: on_epoch(res, epoch))
    return train_group([config], [res], cb, should_stop, data=data, measure=measure, max_threads=max_threads)[0]


def train_group(configs: Sequence[Config], results: Sequence[RunResult] | None = None,
                on_epoch: OnGroupEpoch | None = None, should_stop: ShouldStop | None = None,
                data: Dataset | None = None, measure: MeasurePolicy = LAB_MEASURING,
                max_threads: int | None = None) -> list[RunResult]:
    """Train variants that share shapes and data (equal core.groups.shape_key) as slices of one
    network: config j's seeds are slices core.groups.Group.ranges[j], each with its own settings
    and random streams, so each gives the numbers it gives alone. Results go into `results` (one
    per config, made if not given); on_epoch(j, epoch) follows each measured epoch, for every
    config of the group in turn, once all of them hold it."""
    configs = list(configs)
    if len({shape_key(c) for c in configs}) > 1:
        raise ValueError("train_group: the variants differ in shapes or data (core.groups.shape_key)")
    # Tiny values late in training otherwise fall into denormals and make CPU steps many times
    # slower. The flag is per thread; it is switched off again when training ends.
    torch.set_flush_denormal(True)
    try:
        t0 = time.perf_counter()
        stop = should_stop or _never
        results = list(results) if results is not None else [RunResult.empty(c, "run", c.depth) for c in configs]
        # Start-up (data, networks) can take seconds for a big run: a Stop press or a page that
        # went away is honoured between its steps too, not only once training has begun.
        if stop():
            return _stopped_at_start(results, t0)
        data = data if data is not None else make_dataset(configs[0])
        if stop():
            return _stopped_at_start(results, t0)
        return _train(configs, data, results, on_epoch, should_stop, measure, max_threads, t0)
    finally:
        torch.set_flush_denormal(False)


def _train(configs: list[Config], data: Dataset, results: list[RunResult], on_epoch: OnGroupEpoch | None,
           should_stop: ShouldStop | None, measure: MeasurePolicy, max_threads: int | None, t0: float) -> list[RunResult]:
    spec = Slices.of(configs)
    # The network's shapes: every config's (they agree); dropout > 0 if any slice drops (the
    # metrics read it), seeds = every slice (the thread choice counts the work of all of them).
    shapes = dataclasses.replace(configs[0], seeds=len(spec), dropout=max(spec.dropouts))
    # Large steps get every core, unless measuring every epoch can have the second one (core.recorder).
    threads = measure.training_threads(choose_threads(shapes, data.n_features, len(data.x_train), max_threads),
                                       max_threads)
    torch.set_num_threads(threads)
    net = BatchedNet(shapes, n_in=data.n_features, n_classes=data.n_classes, slices=spec)
    ranges, n = [], 0
    for c in configs:
        ranges.append((n, n + c.seeds))
        n += c.seeds
    opt = make_sliced_optimizer([(lo, hi, c) for (lo, hi), c in zip(ranges, configs, strict=True)], net.params)
    if should_stop is not None and should_stop():  # before the first measurement, the last piece of start-up
        return _stopped_at_start(results, t0)
    if time_limited(should_stop):  # every measurement in this thread, so each can be given up between its chunks
        measure = dataclasses.replace(measure, overlap=False)
    for r in results:
        r.status = "running"
    # Measuring takes each activation's slices apart (core.metrics): their streams must be their own.
    g_train = SeedStreams(list(spec.seeds), TRAIN, spec.draws)
    g_meas = SeedStreams(list(spec.seeds), MEASURE, spec.draws, apart=list(spec.activations))
    log = _Log(configs, results, ranges, net, opt, on_epoch, t0)
    x, y = data.x_train, data.y_train
    bounds = batch_bounds(len(x), shapes.batch_size, shapes.batchnorm)
    # A stop inside an epoch or its measurement (see below) leaves the network part of the way
    # into an unmeasured epoch: the pictures are drawn from the weights of the last measured one,
    # kept here.
    saved = _Weights(net) if should_stop is not None else None
    checks = Checks(should_stop or _never, STOP_CHECK_S)
    # Measurements and pictures are asked between their chunks (core.stopping); without a
    # should_stop nothing can stop them.
    measuring = checks.measuring if should_stop is not None else None
    should_stop, stopped = checks.ask, False  # every question through checks: it knows when the last one was
    step = 0
    snaps = GroupSnapshots(configs, ranges, data)  # live/replay pictures; own random streams, training unchanged
    with make_recorder(measure, net, data, g_meas, log.commit, last_epoch=shapes.epochs, t0=t0, threads=threads,
                       max_threads=max_threads, between=measuring) as recorder:
        stopped = not _measured(0, net, recorder, snaps, results, measuring, saved, log)
        for epoch in range(1, shapes.epochs + 1):
            if stopped or not log.alive.any():
                break  # epoch 0's measurement was given up, or every seed diverged
            if saved is not None:
                saved.take(net)
            perm = g_train.permutations(len(x))  # each seed its own order
            xs, ys = x[perm], y[perm]            # one gather per epoch; each step takes a view
            masks = net.dropout_masks(g_train, [hi - lo for lo, hi in bounds])
            weight = log.loss_weight()
            for j, ((lo, hi), keep) in enumerate(zip(bounds, masks, strict=True)):
                _step(net, opt, xs[:, lo:hi], ys[:, lo:hi], keep, weight)
                step += 1
                # the last step too, when slow: a measurement follows it, not a question
                if (j + 1 < len(bounds) and step % STOP_CHECK_STEPS == 0) or checks.due():
                    if should_stop():
                        stopped = True
                        break
            if stopped:
                saved.restore(net, log)
                break
            if not _measured(epoch, net, recorder, snaps, results, measuring, saved, log):
                stopped = True
                break
            if should_stop():
                stopped = True
                break
        recorder.flush()
    if stopped and all(r.epochs_done == 0 for r in results):  # epoch 0's measurement was given up
        return _stopped_at_start(results, t0)
    arts, units = _final_pictures(net, data, g_meas, snaps, checks if measuring is not None else None, stopped)
    stopped = stopped or arts is None
    seconds = time.perf_counter() - t0
    for j, ((lo, hi), res) in enumerate(zip(ranges, results, strict=True)):
        if arts is not None:
            res.artifacts = arts if len(results) == 1 else slice_artifacts(arts, lo, hi)
        else:
            res.artifacts = {"points": data_points(data)} if data.is_2d else {}
            res.messages.append(_no_pictures(snaps.each[j].epochs))
        res.seconds = seconds * (hi - lo) / net.S  # its share: an experiment's seconds add up to its time
        res.status = "stopped" if stopped else "ok" if log.alive[lo:hi].all() else "diverged"
    snaps.finish(results, units)
    return results


def _measured(epoch: int, net: BatchedNet, recorder: Recorder, snaps: GroupSnapshots, results: list[RunResult],
              measuring: Callable[[], None] | None, saved: _Weights | None, log: _Log) -> bool:
    """Measure `epoch` and take its snapshots; False when a stop gave either up (core.stopping).
    A measurement given up leaves the epoch unmeasured: the network goes back to the weights of
    the last measured one (epoch 0 has none: the run then has no epochs). A snapshot given up
    leaves the epoch measured, without it."""
    try:
        recorder.record(epoch, net)
    except Stopped:
        if saved is not None and epoch > 0:
            saved.restore(net, log)
        return False
    try:
        snaps.take(epoch, net, results, measuring)
    except Stopped:
        return False
    return True


def _final_pictures(net: BatchedNet, data: Dataset, g_meas: SeedStreams, snaps: GroupSnapshots,
                    checks: Checks | None, stopped: bool) -> tuple[dict[str, Any] | None, list | None]:
    """The final pictures (core.artifacts) and unit pictures (core.snapshots) of the network as it
    is, the last measured epoch's, or (None, None): a stop at the time limit (core.stopping.late)
    draws none, and a limit reached while they are drawn gives them up (their chunks can take
    seconds for a wide network). A Stop press draws them: the Stop button promises them.
    checks: the run's questions (None: nobody can stop it)."""
    if stopped and checks is not None and late(checks.should_stop):
        return None, None
    drawing = checks.drawing if checks is not None else None
    try:
        arts = final_artifacts(net, data, g_meas, drawing)  # after measuring: it draws from the same stream
        return arts, snaps.units(net, drawing)
    except Stopped:
        return None, None


def _no_pictures(snapshot_epochs: list[int]) -> str:
    """What a run stopped at its time limit says about its pictures (RunResult.messages)."""
    if snapshot_epochs:
        return (f"Stopped at the time limit before its final pictures were drawn: the network pictures are those "
                f"of epoch {snapshot_epochs[-1]}, its last snapshot (first seed).")
    return "Stopped at the time limit before its final pictures were drawn: this run has none."


class _Weights:
    """A copy of a network's weights (and batch-norm statistics), taken and put back in place."""

    def __init__(self, net: BatchedNet):
        self.tensors = [t.detach().clone() for t in self._of(net)]

    @staticmethod
    def _of(net: BatchedNet) -> list[torch.Tensor]:
        return [*net.params, *(t for pair in net.bn_stats for t in pair)]

    @torch.no_grad()
    def take(self, net: BatchedNet) -> None:
        for mine, t in zip(self.tensors, self._of(net), strict=True):
            mine.copy_(t)

    @torch.no_grad()
    def restore(self, net: BatchedNet, log: _Log) -> None:
        """Put the weights back; a seed retired since they were taken stays retired."""
        for mine, t in zip(self.tensors, self._of(net), strict=True):
            t.copy_(mine)
        for i in np.flatnonzero(~log.alive.numpy()).tolist():
            log._retire(i)


def _stopped_at_start(results: list[RunResult], t0: float) -> list[RunResult]:
    """Stopped before anything was measured: no epochs, no pictures."""
    for res in results:
        res.status = "stopped"
        res.seconds = time.perf_counter() - t0
    return results


def _never() -> bool:
    return False


def batch_bounds(n: int, batch_size: int, batchnorm: bool = False) -> list[tuple[int, int]]:
    """(start, end) of each step's batch in an epoch of n examples; core.cost.batches decides the
    sizes (batch_size 0 is the whole set; under batch norm no batch has one example)."""
    ends = np.cumsum(batches(n, batch_size, batchnorm)).tolist()
    return list(zip([0, *ends[:-1]], ends, strict=True))


def _step(net: BatchedNet, opt: Adam | SGD | Sliced, xb: torch.Tensor, yb: torch.Tensor, keep: torch.Tensor | None,
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
    thread: each variant's curves, divergence and on_epoch.

    A seed whose loss or weights stop being finite is retired: its curve stops at that epoch
    and it trains on as finite zeros that cannot move (see _retire), so the others go on. A
    variant whose seeds have all diverged keeps its results as they were then (alone, its
    training would have ended there)."""

    def __init__(self, configs: list[Config], results: list[RunResult], ranges: list[tuple[int, int]],
                 net: BatchedNet, opt: Adam | SGD | Sliced, on_epoch: OnGroupEpoch | None, t0: float):
        self.configs, self.results, self.ranges = configs, results, ranges
        self.net, self.opt, self.on_epoch, self.t0 = net, opt, on_epoch, t0
        self.alive = torch.ones(net.S, dtype=torch.bool)
        self.owner = np.repeat(np.arange(len(configs)), [hi - lo for lo, hi in ranges])  # slice -> variant

    def loss_weight(self) -> torch.Tensor | None:
        return None if self.alive.all() else self.alive.float()

    def commit(self, epoch: int, seconds: float, m: dict[str, np.ndarray], finite: np.ndarray) -> None:
        if not self.alive.any():
            return  # every seed diverged before this epoch: training stopped there
        was = self.alive.numpy().copy()
        for i in np.flatnonzero(was & ~finite).tolist():
            v = int(self.owner[i])
            lo, cfg, res = self.ranges[v][0], self.configs[v], self.results[v]
            self.alive[i] = False
            res.diverged_at[i - lo] = epoch
            self._retire(i)
            res.messages.append(
                f"seed {cfg.seed_list[i - lo]} diverged at epoch {epoch} (loss or weights became NaN/inf); "
                f"its curve stops there. Try a learning rate below {cfg.lr:g}.")
        dead = ~self.alive.numpy()
        elapsed = time.perf_counter() - self.t0
        done = []
        for v, ((lo, hi), res) in enumerate(zip(self.ranges, self.results, strict=True)):
            if not was[lo:hi].any():
                continue  # every seed of this variant diverged before this epoch
            gone = dead[lo:hi]
            for k, val in m.items():
                val = val[lo:hi].copy()
                val[gone] = np.nan  # a diverged seed's curve stops where it diverged
                res.metrics[k][:, epoch] = val
            res.metrics["seconds"][:, epoch] = np.where(gone, np.nan, seconds)
            res.epochs_done = epoch + 1
            res.seconds = elapsed * (hi - lo) / self.net.S
            done.append(v)
        if self.on_epoch is not None:  # once every variant holds this epoch
            for v in done:
                self.on_epoch(v, epoch)

    @torch.no_grad()
    def _retire(self, i: int) -> None:
        """Freeze slice i at zero weights with zero optimizer state, so it stays finite and its (now
        exactly zero) gradients cannot move it; the other slices are untouched."""
        net = self.net
        for p in net.params:
            p[i] = 0.0
        self.opt.zero_slice(i)
        for rm, rv in net.bn_stats:
            rm[i], rv[i] = 0.0, 1.0


def run_experiment(base: Config, variants: dict[str, dict[str, Any]] | None = None,
                   on_epoch: Callable[[Experiment, int, int], None] | None = None,
                   should_stop: ShouldStop | None = None, title: str = "", preset: str = "",
                   max_threads: int | None = None, measure: MeasurePolicy = LAB_MEASURING,
                   sequential: bool = False) -> Experiment:
    """Train each variant (base settings plus its overrides) on the same data and seeds.

    Variants that share shapes and data train as slices of one network (core.groups): their
    curves advance together, and a Stop leaves all of them at the same epoch, each with its
    pictures. Groups train one after another (after a Stop, the later ones are marked stopped,
    untrained). sequential: every variant alone, one after another, as before groups existed.
    on_epoch(experiment, variant_index, epoch) sees every variant's results so far."""
    variants = variants or {"run": {}}
    configs = {name: base.replace(**ov) for name, ov in variants.items()}
    exp = Experiment(base, [RunResult.empty(c, name, c.depth) for name, c in configs.items()], title, preset)
    for r in exp.runs:
        r.status = "pending"
    stop_all = False
    for g in group_configs(list(configs.values()), sequential=sequential):
        runs = [exp.runs[i] for i in g.indices]
        if stop_all:
            for r in runs:
                r.status = "stopped"
            continue
        cb = (lambda j, epoch, g=g: on_epoch(exp, g.indices[j], epoch)) if on_epoch else None
        train_group(g.configs, runs, cb, should_stop, measure=measure, max_threads=max_threads)
        stop_all = any(r.status == "stopped" for r in runs)
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
