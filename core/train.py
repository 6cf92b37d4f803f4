"""Training: `seeds` networks at once, measured every epoch from epoch 0.

`train(config)` returns a RunResult of plain numbers. `run_experiment(base, variants)` trains
several variants on identical data and seeds, one after another, into one Experiment.
"""
from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from core.config import Config
from core.cost import batches, step_macs
from core.data import Dataset, make_dataset
from core.metrics import chunk_rows, evaluate, measure, probe_size, train_mode_passes
from core.models import MEASURE, TRAIN, BatchedNet, SeedStreams
from core.optim import SGD, Adam
from core.results import Experiment, RunResult

OnEpoch = Callable[[RunResult, int], None]
ShouldStop = Callable[[], bool]
STOP_CHECK_STEPS = 32  # a Stop press is honoured within this many steps, not only at epoch ends
BOUNDARY_GRID = 80
RASTER_INPUTS, RASTER_UNITS = 48, 64


_DEFAULT_THREADS = torch.get_num_threads()
# A cap on threads per run, set by hosted mode (core.serve.process): many
# sessions share two cores, and one thread each keeps the server responsive.
MAX_THREADS: int | None = None
SMALL_STEP_MACS = 20_000_000


OVERLAP_MEASURING = True  # the benchmark switches it off to price the overlap


def overlap_measuring(threads: int) -> bool:
    """Measure in a second thread only when a run uses one thread and a second core is free."""
    cap = MAX_THREADS if MAX_THREADS is not None else _DEFAULT_THREADS
    return OVERLAP_MEASURING and threads == 1 and min(cap, _DEFAULT_THREADS) >= 2


# Snapshots measured per pass: as many as fit MEASURE_STACK_ELEMENTS of layer outputs per
# evaluation chunk, at most MAX_SNAPSHOTS. Two threads of small torch ops queue for Python's lock
# (GIL) at every op; stacking makes the measuring thread's ops k times larger and k times rarer.
# On W1 (5 seeds) 4 snapshots per pass took the cost of measuring beside training from +80% to
# about +28% (bench), 8 to about +23%, for 30 MB more peak memory (341 MB against 312 MB).
MEASURE_STACK_ELEMENTS = 2**23
MAX_SNAPSHOTS = 8
SNAPSHOT_WAIT_S = 0.05  # a pass starts when its oldest snapshot is this old, full or not


def snapshots_per_pass(cfg: Config, net: BatchedNet, n_rows: int) -> int:
    if net.cnn:
        # A grouped convolution over k*S groups rounds differently (last bits) from one over S,
        # which would make a CNN's figures depend on how epochs happened to be grouped.
        return 1
    per_snapshot = cfg.seeds * min(n_rows, chunk_rows(net)) * net.units_per_input
    return max(1, min(MAX_SNAPSHOTS, MEASURE_STACK_ELEMENTS // per_snapshot))


def measuring_pool(threads: int) -> ThreadPoolExecutor:
    """The one-thread pool that measures beside training, set up as the training thread is."""
    return ThreadPoolExecutor(1, thread_name_prefix="lab-measure", initializer=_thread_setup, initargs=(threads,))


def _thread_setup(threads: int) -> None:
    # Both settings are per thread. A new thread's OpenMP count is every core: a large matmul
    # there would take the training thread's core too.
    torch.set_flush_denormal(True)
    torch.set_num_threads(threads)


def choose_threads(cfg: Config, n_in: int, n_train: int, max_threads: int | None = None) -> int:
    """One thread for small steps: splitting a tiny matmul across cores costs more than it saves
    (measured: 4x faster on the reference workload), and it leaves the other core to the page
    or to another user's run. Large steps get every core."""
    n = 1 if step_macs(cfg, n_in, n_train) < SMALL_STEP_MACS else _DEFAULT_THREADS
    cap = max_threads if max_threads is not None else MAX_THREADS
    return n if cap is None else max(1, min(n, cap))


def make_optimizer(cfg: Config, params: list[torch.Tensor]) -> Adam | SGD:
    # Every update below is elementwise, so stacked seeds are updated exactly as separate ones.
    # torch.optim's fused kernels without its per-step Python (core/optim.py).
    if cfg.optimizer == "adam":
        return Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    momentum = 0.9 if cfg.optimizer == "momentum" else 0.0
    return SGD(params, lr=cfg.lr, momentum=momentum, weight_decay=cfg.weight_decay)


def _finite_seeds(net: BatchedNet, loss: torch.Tensor) -> torch.Tensor:
    ok = torch.isfinite(loss)
    for p in net.params:
        ok &= torch.isfinite(p.detach().view(net.S, -1)).all(1)
    return ok


@torch.no_grad()
def _retire(net: BatchedNet, opt: Adam | SGD, i: int) -> None:
    """Freeze a diverged seed at zero weights with zero optimizer state, so it stays finite and
    its (now exactly zero) gradients cannot move it; the other seeds are untouched."""
    for p in net.params:
        p[i] = 0.0
        for v in opt.state.get(p, {}).values():
            if torch.is_tensor(v) and v.dim() > 0 and v.shape[0] == net.S:
                v[i] = 0.0
    for rm, rv in net.bn_stats:
        rm[i], rv[i] = 0.0, 1.0


def train(config: Config, on_epoch: OnEpoch | None = None, should_stop: ShouldStop | None = None,
          name: str = "run", data: Dataset | None = None, result: RunResult | None = None,
          measure_every_epoch: bool = True, max_threads: int | None = None) -> RunResult:
    """Train `config.seeds` networks side by side, measuring every metric at every epoch.

    measure_every_epoch=False measures only epoch 0 and the last epoch (the benchmark uses it to
    price the metrics); everything else is identical, because measuring has its own random stream."""
    # Tiny values late in training otherwise fall into denormals and make CPU steps many times
    # slower. The flag is per thread; it is switched off again when training ends.
    torch.set_flush_denormal(True)
    try:
        return _train(config, on_epoch, should_stop, name, data, result, measure_every_epoch, max_threads)
    finally:
        torch.set_flush_denormal(False)


def _train(config, on_epoch, should_stop, name, data, result, measure_every_epoch, max_threads) -> RunResult:
    t0 = time.perf_counter()
    cfg = config
    data = data if data is not None else make_dataset(cfg)
    threads = choose_threads(cfg, data.n_features, len(data.x_train), max_threads)
    torch.set_num_threads(threads)
    net = BatchedNet(cfg, n_in=data.n_features, n_classes=data.n_classes)
    opt = make_optimizer(cfg, net.params)
    res = result if result is not None else RunResult.empty(cfg, name, net.layers)
    res.status = "running"
    S = cfg.seeds
    g_train, g_meas = SeedStreams(cfg.seed_list, TRAIN), SeedStreams(cfg.seed_list, MEASURE)
    x, y = data.x_train, data.y_train
    alive = torch.ones(S, dtype=torch.bool)
    all_alive = True
    prev_on = None
    # Measuring runs on copies of the weights in a second thread while the main thread trains on:
    # a small run uses one core, so the other one is free. Snapshots of several epochs are
    # measured in one pass (see snapshots_per_pass), into two stacks that take turns: one is
    # filled while the other is measured. Results are committed (divergence handled, on_epoch
    # called) in epoch order, in the caller's thread.
    overlap = measure_every_epoch and overlap_measuring(threads)
    K = snapshots_per_pass(cfg, net, len(x) + len(data.x_val)) if overlap else 1
    stacks = [net.stacked(K)] if overlap else []
    if overlap:
        stacks.append(net.stacked(K, share_buffers=stacks[0]))  # measured in one thread, one at a time
    pool = measuring_pool(threads) if overlap else None
    pending: list[tuple[BatchedNet, list[tuple[int, float]], Future]] = []
    batch: list[tuple[int, float]] = []  # (epoch, seconds) of the snapshots in stacks[0]
    last_record = [0.0]  # seconds at the last record()

    def compute(snap: BatchedNet, k: int):
        nonlocal prev_on
        m, prev_on = measure(snap, x, y, data.x_val, data.y_val, g_meas if k == 1 else g_meas.repeated(k),
                             prev_on, snapshots=k)
        ok = _finite_seeds(snap, m["train_loss"] + m["val_loss"])  # one pass over the weights
        # Converted here, once per pass: in the measuring thread this is off the training path.
        return {key: v.double().numpy() for key, v in m.items()}, ok.numpy()

    def commit(epochs: list[tuple[int, float]], m: dict[str, np.ndarray], ok: np.ndarray) -> None:
        nonlocal all_alive
        for j, (epoch, seconds) in enumerate(epochs):
            if not alive.any():
                return  # every seed diverged before this epoch: the serial path would have stopped
            mine = slice(j * S, (j + 1) * S)
            for i in np.flatnonzero(alive.numpy() & ~ok[mine]).tolist():
                alive[i] = False
                res.diverged_at[i] = epoch
                _retire(net, opt, i)
                all_alive = False
                res.messages.append(
                    f"seed {cfg.seed_list[i]} diverged at epoch {epoch} (loss or weights became NaN/inf); "
                    f"its curve stops there. Try a learning rate below {cfg.lr:g}.")
            dead = ~alive.numpy()
            for k, v in m.items():
                v = v[mine].copy()
                v[dead] = np.nan  # a diverged seed's curve stops where it diverged
                res.metrics[k][:, epoch] = v
            res.metrics["seconds"][:, epoch] = np.where(dead, np.nan, seconds)
            res.epochs_done = epoch + 1
            res.seconds = time.perf_counter() - t0
            if on_epoch is not None:
                on_epoch(res, epoch)

    def wait_oldest() -> None:
        _, epochs, fut = pending.pop(0)
        commit(epochs, *fut.result())

    def submit() -> None:
        nonlocal batch
        if batch:
            pending.append((stacks[0], batch, pool.submit(compute, stacks[0].head(len(batch) * S), len(batch))))
            stacks.reverse()
            batch = []

    def flush() -> None:
        if pool is not None:
            submit()
        while pending:
            wait_oldest()

    def record(epoch: int) -> None:
        seconds = time.perf_counter() - t0
        if pool is None:
            commit([(epoch, seconds)], *compute(net, 1))
            return
        while pending and pending[0][2].done():  # report what is measured as soon as possible
            wait_oldest()
        if not batch:  # this stack is refilled: its last pass must be over
            while pending and pending[0][0] is stacks[0]:
                wait_oldest()
        stacks[0].put(len(batch), net)
        batch.append((epoch, seconds))
        # A pass waits for K snapshots, but never long: epoch 0 goes at once, and a snapshot that
        # would be older than SNAPSHOT_WAIT_S by the next epoch's end (judged by the last epoch's
        # length) does not wait for it. With the poll above, an epoch is reported at the latest
        # when the next one has been trained (the serial path reports it before).
        epoch_s = seconds - last_record[0]
        last_record[0] = seconds
        if len(batch) == K or epoch == 0 or seconds - batch[0][1] + epoch_s > SNAPSHOT_WAIT_S:
            submit()

    try:
        with _short_switch_interval(overlap):
            return _loop(cfg, net, opt, res, data, g_train, g_meas, alive, lambda: all_alive, record, flush,
                         should_stop, t0, measure_every_epoch)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


# Two threads of small torch ops hand Python's lock (GIL) back and forth thousands of times a
# second; with the default 5 ms switch interval a thread that wants it back can wait behind the
# other one's Python code. 0.2 ms made W1 ~8% faster when every epoch was measured on its own;
# with several epochs per pass it is within noise (0.79 s against 0.81 s at 5 ms, 5 runs), and
# still bounds the wait behind a long stretch of Python (numpy's, a chart's) in the other thread.
SWITCH_INTERVAL_S = 0.0002
_switch_lock = threading.Lock()
_switch_users = [0, 0.0]  # runs inside, interval before the first one


@contextmanager
def _short_switch_interval(active: bool):
    if not active:
        yield
        return
    with _switch_lock:
        if _switch_users[0] == 0:
            _switch_users[1] = sys.getswitchinterval()
            sys.setswitchinterval(min(SWITCH_INTERVAL_S, _switch_users[1]))
        _switch_users[0] += 1
    try:
        yield
    finally:
        with _switch_lock:
            _switch_users[0] -= 1
            if _switch_users[0] == 0:
                sys.setswitchinterval(_switch_users[1])


def _loop(cfg, net, opt, res, data, g_train, g_meas, alive, all_alive_now, record, flush, should_stop, t0,
          measure_every_epoch) -> RunResult:
    S = cfg.seeds
    x, y = data.x_train, data.y_train
    N = len(x)
    sizes = batches(N, cfg.batch_size, cfg.batchnorm)  # batch norm never gets a batch of one
    starts = np.cumsum([0, *sizes[:-1]]).tolist()
    record(0)
    stopped = False
    step = 0
    for epoch in range(1, cfg.epochs + 1):
        if not alive.any():
            break
        perms = g_train.permutations(N)  # each seed its own order
        xs, ys = x[perms], y[perms]     # one gather per epoch; each step takes a view
        masks = net.dropout_masks(g_train, sizes)
        for lo, b in zip(starts, sizes, strict=True):
            xb, yb = xs[:, lo: lo + b], ys[:, lo: lo + b]
            keep = next(masks)
            all_alive = all_alive_now()
            if net.manual_backward:
                net.set_grads(xb, yb, None, None if all_alive else alive.float(), keep=keep)
                opt.step()
            else:
                logits, _ = net.forward(xb, train=True, keep=keep)
                if all_alive:
                    # Every seed's batch has the same size b, so the sum over seeds of per-seed mean
                    # losses is one summed cross-entropy / b: d(loss)/d(seed i's weights) is seed
                    # i's own gradient, computed in one call instead of four.
                    loss = F.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="sum") / yb.shape[1]
                else:
                    # Retired seeds contribute an exact 0 (their weights are finite zeros: no NaN leaks).
                    per_seed = F.cross_entropy(logits.flatten(0, 1), yb.flatten(), reduction="none") \
                        .view(S, -1).mean(1)
                    loss = (per_seed * alive).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
            step += 1
            if should_stop is not None and step % STOP_CHECK_STEPS == 0 and should_stop():
                stopped = True
                break
        if stopped:
            break
        if measure_every_epoch or epoch == cfg.epochs:
            record(epoch)
        if should_stop is not None and should_stop():
            stopped = True
            break

    flush()
    res.artifacts = final_artifacts(net, data, g_meas)
    res.seconds = time.perf_counter() - t0
    if stopped:
        res.status = "stopped"
    elif not alive.all():
        res.status = "diverged"
    else:
        res.status = "ok"
    return res


@torch.no_grad()
def final_artifacts(net: BatchedNet, data: Dataset, gens: SeedStreams) -> dict[str, Any]:
    """Pictures of the final networks, as numbers: the decision boundary (2-D data) or the
    confusion matrix (otherwise), and an on/off raster of units by inputs over two train-mode
    passes and one eval pass."""
    arts: dict[str, Any] = {}
    if data.is_2d:
        pts = torch.cat([data.x_train, data.x_val])
        lo, hi = pts.min(0).values - 0.5, pts.max(0).values + 0.5
        gx = torch.linspace(float(lo[0]), float(hi[0]), BOUNDARY_GRID)
        gy = torch.linspace(float(lo[1]), float(hi[1]), BOUNDARY_GRID)
        grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), -1).reshape(-1, 2)
        out = evaluate(net, grid, torch.zeros(len(grid), dtype=torch.long), keep_logits=True)
        prob = torch.softmax(out.logits, -1)
        conf, pred = prob.max(-1)
        G = BOUNDARY_GRID
        arts["boundary"] = {
            "x": gx.numpy(), "y": gy.numpy(),
            "pred": pred.view(net.S, G, G).to(torch.int8).numpy(),
            "conf": conf.view(net.S, G, G).to(torch.float16).numpy(),
            # class-1 probability: the smooth picture for two classes
            "p1": prob[..., min(1, prob.shape[-1] - 1)].view(net.S, G, G).to(torch.float16).numpy(),
        }
        arts["points"] = {"x_train": data.x_train.numpy(), "y_train": data.y_train.numpy(),
                          "x_val": data.x_val.numpy(), "y_val": data.y_val.numpy()}
    else:
        out = evaluate(net, data.x_val, data.y_val, keep_logits=True)
        pred = out.logits.argmax(-1)  # (S, N)
        C = data.n_classes
        conf = torch.zeros(net.S, C, C, dtype=torch.int64)
        for s in range(net.S):
            conf[s] = torch.bincount(data.y_val * C + pred[s], minlength=C * C).view(C, C)
        arts["confusion"] = conf.numpy()
    P = min(RASTER_INPUTS, probe_size(net, len(data.x_train)))
    xs = data.x_train[:P]
    r1, r2 = train_mode_passes(net, xs, gens)
    _, ev = net.forward(xs.unsqueeze(0).expand(net.S, *xs.shape), train=False, record=True)

    def onoff(t: torch.Tensor) -> torch.Tensor:  # (S, P, units, positions) -> (S, P, <=64 units)
        return (t > 0).flatten(2)[:, :, :RASTER_UNITS]

    arts["raster"] = torch.stack([torch.stack([onoff(a.d), onoff(b.d), onoff(e.a)], 1)
                                  for a, b, e in zip(r1, r2, ev, strict=False)], 1).numpy()  # (S, L, 3, P, U)
    return arts


def run_experiment(base: Config, variants: dict[str, dict[str, Any]] | None = None,
                   on_epoch: Callable[[Experiment, int, int], None] | None = None,
                   should_stop: ShouldStop | None = None, title: str = "", preset: str = "",
                   max_threads: int | None = None) -> Experiment:
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
        train(run.config, on_epoch=cb, should_stop=should_stop, name=run.name, result=run, max_threads=max_threads)
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
