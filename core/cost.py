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


def weight_copies(cfg: Config) -> float:
    """Copies of the weights while training: weights, gradients, the optimizer's state, slack."""
    return 2.5 + OPTIMIZERS[cfg.optimizer].state_tensors


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


def step_macs(cfg: Config, n_in: int, n_train: int) -> int:
    """Multiply-accumulates in one forward step of all seeds: decides the threads of a run."""
    B = batch(cfg, n_train)
    k = n_classes(cfg)
    if cfg.model == "cnn":
        per_input = CNN_PIXELS * CNN_KERNEL * cfg.width * (1 + cfg.width * (cfg.depth - 1)) + cfg.width * CNN_POOLED * k
    else:
        per_input = n_in * cfg.width + cfg.width * cfg.width * (cfg.depth - 1) + cfg.width * k
    return cfg.seeds * B * per_input


def parameters(cfg: Config) -> int:
    """Trainable numbers of one seed's network."""
    w, d, k = cfg.width, cfg.depth, n_classes(cfg)
    if cfg.model == "cnn":
        n = (CNN_KERNEL + 1) * w + (d - 1) * (CNN_KERNEL * w * w + w) + CNN_POOLED * w * k + k
    else:
        n = (n_inputs(cfg) + 1) * w + (d - 1) * (w * w + w) + (w + 1) * k
    return n + (2 * w * d if cfg.batchnorm else 0)


def memory_bytes(cfg: Config) -> tuple[float, float]:
    """(peak bytes while training, bytes of its results kept and serialized) for one variant.

    An estimate calibrated by measuring peak RSS on a range of settings (MLP and CNN, full
    batch and small, dropout and batch norm); it errs high, by up to about 2x. Training memory
    is the weights (with gradients and optimizer state) plus the largest of: the activations
    autograd keeps for one step, one evaluation chunk, the probe batch the metrics use."""
    cnn = cfg.model == "cnn"
    S, d = cfg.seeds, cfg.depth
    units = units_per_input(cfg)
    n = examples(cfg)
    n_train, _ = split(cfg, n)
    B = batch(cfg, n_train)
    probe = probe_rows(cfg, n_train)
    chunk = min(n, chunk_rows(cfg))
    drop, bn = cfg.dropout > 0, cfg.batchnorm
    k_train = 2.5 + 1.5 * drop + 3 * bn
    # Calibrated when the MLP's figure assumed a 1,024-row probe: 4x the per-row factor keeps
    # the same (high) estimate for the real 256-row probe until it is recalibrated against
    # measured peaks.
    k_probe = (12 + 4 * drop if cnn else 4 * (2.5 + 1 * drop)) + 2 * bn
    k_chunk = 4 if cnn else 1.5
    acts = S * units * max(B * k_train, chunk * k_chunk, probe * k_probe)
    train = 4 * (S * parameters(cfg) * weight_copies(cfg) + acts)
    # Metric histories (float64) and the on/off raster, then as Python lists and JSON in the store.
    kept = S * (cfg.epochs + 1) * (7 + 8 * d) * 8 * 7 + S * d * 3 * 48 * 64 * 48
    return train, kept


def estimate_memory_mb(configs: list[Config]) -> float:
    """Estimated peak memory of an experiment in MB, above what the server already holds: the
    variants of a group (core.groups) train at once and groups one after another, and all
    results are kept and stored together."""
    if not configs:
        return 0.0
    from core.groups import group_configs  # core.groups imports this module

    parts = [memory_bytes(c) for c in configs]
    training = max(sum(parts[i][0] for i in g.indices) for g in group_configs(configs))
    return (training + sum(k for _, k in parts)) / _MB + 32
