"""What a run costs, from the engine's own constants: work, one step's arithmetic, memory.

One place for this knowledge: the hosted budget (core.serve), the engine's thread choice
(core.train) and the tests all read it, so an estimate cannot drift from what the engine does.
Plain arithmetic on settings: facts about data sets and optimizers come from core.registry.
"""
from __future__ import annotations

from core.config import Config
from core.registry import DATASETS, OPTIMIZERS

# Measuring: rows per evaluation chunk are chosen from the layer sizes only, never from the
# number of seeds, so a seed's figures are summed in the same order alone or beside others.
CHUNK_ELEMENTS = 2**20
PROBE_MLP = 256   # train-mode figures and mask figures use the first PROBE_* training examples
PROBE_CNN = 128   # x 1024 channels x 64 pixels stays below 2**24 (see metrics._nnz)
CNN_PIXELS = 64   # the CNN keeps digits' 8x8 resolution through its conv layers
CNN_KERNEL = 9    # 3x3 convolutions
CNN_POOLED = 16   # pixels per channel after the final 2x2 pooling (4x4), fed to the output layer

_MB = 1024 * 1024


def examples(cfg: Config) -> int:
    """Examples the run really uses: n_samples, where 0 means the data set's natural size (1000
    generated points, all 1797 digits); a CSV's rows (n_samples does not apply to it). Every
    reader of a run's size asks here, never cfg.n_samples."""
    size = DATASETS[cfg.dataset].size
    if size is None:  # a CSV
        from core.csvdata import MIN_ROWS, csv_info

        try:
            return csv_info(cfg.data_path).rows
        except ValueError:  # DataError: training reports it, with its own clear message
            return MIN_ROWS  # the smallest usable file: an estimate for a run that will not train
    return cfg.n_samples or size


def n_inputs(cfg: Config) -> int:
    return DATASETS[cfg.dataset].n_features


def n_classes(cfg: Config) -> int:
    """Classes of the data set (a CSV: at most csvdata.MAX_CLASSES; assume the most)."""
    return DATASETS[cfg.dataset].max_classes


def split(cfg: Config, n: int | None = None) -> tuple[int, int]:
    """(training examples, validation examples), as core.data splits them."""
    n = examples(cfg) if n is None else n
    n_val = max(1, round(n * cfg.val_fraction))
    return max(1, n - n_val), n_val


def batch(cfg: Config, n_train: int) -> int:
    """The usual batch size (the largest batch but one; see batches)."""
    return min(cfg.batch_size or n_train, n_train)


def batches(n_train: int, batch_size: int, batchnorm: bool) -> list[int]:
    """The sizes of one epoch's batches, in order: batch_size examples each (0 = all at once) and
    what is left over last. The one place the engine cuts an epoch into steps (core.train).

    With batch norm a batch of one example has no batch statistics (its variance is 0, so the
    layer outputs only its shift, and PyTorch raises there): a last batch of one is merged into
    the batch before it, which then has batch_size + 1 examples. Settings where every batch
    would have one example (batch_size 1) are refused by core.config."""
    b = min(batch_size or n_train, n_train)
    sizes = [b] * (n_train // b) + ([n_train % b] if n_train % b else [])
    if batchnorm and len(sizes) > 1 and sizes[-1] == 1:
        sizes[-2:] = [sizes[-2] + 1]
    return sizes


def units_per_input(cfg: Config) -> int:
    """Hidden outputs per example, all layers (a CNN channel counts once per pixel)."""
    return cfg.width * cfg.depth * (CNN_PIXELS if cfg.model == "cnn" else 1)


def chunk_rows(cfg: Config) -> int:
    """Rows per evaluation chunk (metrics.evaluate / measure)."""
    return max(16, CHUNK_ELEMENTS // (units_per_input(cfg) * 3))


def probe_rows(cfg: Config, n_train: int) -> int:
    return min(n_train, PROBE_CNN if cfg.model == "cnn" else PROBE_MLP)


def work(configs: list[Config]) -> int:
    """epochs x examples x width x depth x seeds, summed over the variants: the budget's unit."""
    return sum(c.epochs * examples(c) * c.width * c.depth * c.seeds for c in configs)


def forward_macs(cfg: Config, n_in: int | None = None) -> int:
    """Multiply-accumulates of one seed's forward pass over one example."""
    n_in = n_inputs(cfg) if n_in is None else n_in
    k = n_classes(cfg)
    if cfg.model == "cnn":
        return CNN_PIXELS * CNN_KERNEL * cfg.width * (1 + cfg.width * (cfg.depth - 1)) + cfg.width * CNN_POOLED * k
    return n_in * cfg.width + cfg.width * cfg.width * (cfg.depth - 1) + cfg.width * k


def step_macs(cfg: Config, n_in: int, n_train: int) -> int:
    """Multiply-accumulates in one forward step of all seeds: decides the threads of a run."""
    return cfg.seeds * batch(cfg, n_train) * forward_macs(cfg, n_in)


# The pieces of a run that a time limit cannot cut, since the engine asks should_stop between
# them: one training step (forward and backward, about 3 forwards), one measurement (an eval
# pass over every example and two train-mode passes over the probe) and the final pictures (the
# boundary over its grid, or the validation set, and three passes over the raster's inputs).
BOUNDARY_POINTS = 80 * 80   # core.artifacts.BOUNDARY_GRID squared (tested)
RASTER_INPUTS = 48          # core.artifacts.RASTER_INPUTS
# Multiply-accumulates a second on one thread, taken low: a wide CNN's step ran at 48e9 and its
# measurement at 67e9 on the 2-vCPU EPYC of README's figures, a wide MLP's at about the same;
# a server training two runs while it draws pages gets less.
MACS_PER_S = 3e10


def piece_macs(cfg: Config) -> dict[str, float]:
    """Multiply-accumulates of each piece a time limit cannot cut (see above), all seeds."""
    n = examples(cfg)
    n_train, n_val = split(cfg, n)
    per = cfg.seeds * forward_macs(cfg)
    probe = probe_rows(cfg, n_train)
    shown = BOUNDARY_POINTS if n_inputs(cfg) == 2 else n_val
    return {"step": 3.0 * per * batch(cfg, n_train) if cfg.epochs > 0 else 0.0,
            "measurement": per * (n + 2 * probe),
            "pictures": per * (shown + 3 * min(RASTER_INPUTS, probe))}


STEP_OVERHEAD_S = 2e-4   # Python and tiny kernels around each training step
EPOCH_OVERHEAD_S = 3e-3  # ... and around each epoch's measurement


def estimate_seconds(configs: list[Config]) -> float:
    """Rough wall-clock seconds of an experiment on one thread (variants one after another): the
    line's shortest-first order and the wait a visitor is shown use it; it errs high."""
    total = 0.0
    for c in configs:
        n_train, _ = split(c)
        steps = len(batches(n_train, c.batch_size, c.batchnorm))
        p = piece_macs(c)
        epoch = steps * (STEP_OVERHEAD_S + p["step"] / MACS_PER_S) + EPOCH_OVERHEAD_S + p["measurement"] / MACS_PER_S
        total += c.epochs * epoch + (p["measurement"] + p["pictures"]) / MACS_PER_S + EPOCH_OVERHEAD_S
    return total


def longest_piece(configs: list[Config]) -> tuple[str, Config, float]:
    """(which piece, of the variant that weighs most in it, its estimated seconds at MACS_PER_S):
    the longest stretch of a run during which it cannot be stopped. Variants that train as one
    network (core.groups) take each step, measurement and picture together: their pieces add up."""
    from core.groups import group_configs  # core.groups imports this module

    best = ("", configs[0], 0.0)
    for g in group_configs(configs):
        pieces = [piece_macs(c) for c in g.configs]
        for name in pieces[0]:
            seconds = sum(p[name] for p in pieces) / MACS_PER_S
            if seconds > best[2]:
                heaviest = max(range(len(pieces)), key=lambda j: pieces[j][name])
                best = (name, g.configs[heaviest], seconds)
    return best


def parameters(cfg: Config) -> int:
    """Trainable numbers of one seed's network."""
    w, d, k = cfg.width, cfg.depth, n_classes(cfg)
    if cfg.model == "cnn":
        n = (CNN_KERNEL + 1) * w + (d - 1) * (CNN_KERNEL * w * w + w) + CNN_POOLED * w * k + k
    else:
        n = (n_inputs(cfg) + 1) * w + (d - 1) * (w * w + w) + (w + 1) * k
    return n + (2 * w * d if cfg.batchnorm else 0)


def memory_terms(cfg: Config) -> dict[str, float]:
    """The bytes of what one variant holds, before the factors memory_bytes applies: one float32
    copy of every seed's weights, of the hidden outputs of a training batch (none when only
    epoch 0 is measured), of an evaluation chunk and of the probe, and the float64 results kept
    (metric histories and the on/off raster)."""
    S, d = cfg.seeds, cfg.depth
    units = units_per_input(cfg)
    n = examples(cfg)
    n_train, _ = split(cfg, n)
    return {
        "weights": 4.0 * S * parameters(cfg),
        "batch": 4.0 * S * units * batch(cfg, n_train) if cfg.epochs > 0 else 0.0,
        "chunk": 4.0 * S * units * min(n, chunk_rows(cfg)),
        "probe": 4.0 * S * units * probe_rows(cfg, n_train),
        "kept": 8.0 * S * ((cfg.epochs + 1) * (7 + 8 * d) + d * 3 * 48 * 64),
        "pictures": 4.0 * 3 * S * units * unit_rows(cfg) if n_inputs(cfg) == 2 and cfg.model == "mlp" else 0.0,
    }


UNIT_POINTS = 32 * 32   # core.units.UNITS_GRID squared: the grid each unit is drawn over
UNIT_CHUNK_VALUES = 2**20  # core.units.CHUNK_VALUES: values per recorded tensor of one chunk


def unit_rows(cfg: Config) -> int:
    """Grid points in one chunk of the unit pictures' recorded pass (core.units.unit_outputs),
    which keeps z, a and d of every layer for them."""
    return min(UNIT_POINTS, max(16, UNIT_CHUNK_VALUES // max(1, cfg.seeds * cfg.width * cfg.depth)))


# Factors on memory_terms, calibrated against measured peaks (python -m bench.memcal: every
# model, batch sizes from 2 to the whole set, measurement-only runs, dropout, batch norm, many
# seeds, long histories, served the page's way): each covers the copies that really exist at the
# peak, with about 20% to spare. Weights: the weights, their gradients, the optimizer's state and
# the per-seed tensors stacked at initialization. A training batch: each layer's pre-activation,
# activation and their gradients (dropout adds its mask and output, batch norm its normalized
# copies and autograd's). An evaluation chunk and the probe: the reused per-layer buffers and the
# two train-mode passes over it. Kept: the live results, the snapshot the page reads, and the
# store's copy as Python lists, JSON and compressed bytes. Pictures: the unit pictures' recorded
# pass over a chunk of grid points, in eval and train mode (2-D data).
MEMORY_BASE_MB = 48  # threads, the store's connection, JSON: what even the smallest run adds


def _batch_factor(cfg: Config) -> float:
    return 4.0 + 2.0 * (cfg.dropout > 0) + 5.0 * cfg.batchnorm


def memory_factors(cfg: Config) -> dict[str, float]:
    return {"weights": 6.0 + OPTIMIZERS[cfg.optimizer].state_tensors, "batch": _batch_factor(cfg),
            "chunk": 5.0, "probe": 14.0, "kept": 12.0, "pictures": 2.0}


def memory_bytes(cfg: Config) -> tuple[float, float]:
    """(peak bytes while training, bytes of its results kept and serialized) for one variant:
    memory_terms times memory_factors. The training figure is a sum over weights, batch, chunk
    and probe (the buffers of each are kept while the others are in use), so it errs high; the
    calibration test (tests/test_cost.py) holds it between the measured peak and 3x it."""
    terms, k = memory_terms(cfg), memory_factors(cfg)
    train = sum(k[name] * terms[name] for name in ("weights", "batch", "chunk", "probe", "pictures"))
    return train, k["kept"] * terms["kept"]


def estimate_memory_mb(configs: list[Config]) -> float:
    """Estimated peak memory of an experiment in MB, above what the server already holds: the
    variants of a group (core.groups) train at once and groups one after another, and all
    results are kept and stored together."""
    if not configs:
        return 0.0
    from core.groups import group_configs  # core.groups imports this module

    parts = [memory_bytes(c) for c in configs]
    training = max(sum(parts[i][0] for i in g.indices) for g in group_configs(configs))
    return (training + sum(k for _, k in parts)) / _MB + MEMORY_BASE_MB
