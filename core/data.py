"""Data sets: generated 2-D sets, scikit-learn's bundled digits, or a user's CSV. Nothing is downloaded.
Where each set's raw examples come from is its entry in core.registry.DATASETS; this module
splits and scales them.

The data depend only on the data settings, never on `seed`: every network seed of a run, and
every variant of a comparison, sees exactly the same examples, so differences between curves
come from the networks, not from resampled data. Inputs are scaled with training-set statistics
only (`scale`), as the `scaling` setting says.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from core.config import Config
from core.cost import examples
from core.registry import DATASETS

DATA_SEED = 20241127  # fixed: see the module docstring


@dataclass(frozen=True)
class Dataset:
    x_train: torch.Tensor   # (N, 2) or (N, 64) float32; cnn: (N, 1, 8, 8)
    y_train: torch.Tensor   # (N,) int64, label noise applied
    x_val: torch.Tensor
    y_val: torch.Tensor     # true labels
    n_classes: int
    y_train_true: torch.Tensor  # before label noise (for reference only; never used in training)

    @property
    def n_features(self) -> int:
        return int(np.prod(self.x_train.shape[1:]))

    @property
    def is_2d(self) -> bool:
        return self.x_train.dim() == 2 and self.x_train.shape[1] == 2


def _raw(cfg: Config, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    x, y = DATASETS[cfg.dataset].load(cfg, n, rng)
    return np.asarray(x, np.float32), np.asarray(y, np.int64)


def scale(x_train: np.ndarray, x_val: np.ndarray, scaling: str) -> tuple[np.ndarray, np.ndarray]:
    """Both sets scaled with the training set's statistics (validation never informs them).

    feature: each input its own mean and std (scikit-learn's StandardScaler); an input constant
    on the training set (a digit's corner pixel) is divided by 1, so it is 0 after centring.
    global: one mean and one std over every input (the image convention: it keeps the contrast
    between pixels; a pixel that is always blank stays below the others). none: raw values."""
    if scaling == "none":
        return x_train, x_val
    if scaling == "global":
        mu, sd = x_train.mean(), x_train.std()
        sd = sd if sd > 0 else 1.0
    else:
        mu, sd = x_train.mean(axis=0), x_train.std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
    return (x_train - mu) / sd, (x_val - mu) / sd


def make_dataset(cfg: Config) -> Dataset:
    # A CSV file can change under the same name: its size and modification time are part of the key.
    stamp = None
    if cfg.dataset == "csv":
        try:
            st = os.stat(cfg.data_path)
            stamp = (st.st_size, st.st_mtime_ns)
        except OSError:
            pass  # load_points reports it, as a DataError with a sentence (failures are not cached)
    return _make_dataset_cached(cfg.dataset, examples(cfg), cfg.noise, cfg.label_noise, cfg.val_fraction,
                                cfg.scaling, cfg.data_path, cfg.model, stamp)


@lru_cache(maxsize=16)
def _make_dataset_cached(dataset, n, noise, label_noise, val_fraction, scaling, data_path, model,
                         stamp) -> Dataset:
    # Cached: the dashboard re-runs the same data for every variant and every rerun. The tensors
    # are never written to, so sharing them is safe. Keyed by the effective number of examples n,
    # so n_samples=0 and n_samples=<the natural size> share one entry.
    cfg = Config(dataset=dataset, noise=noise, label_noise=label_noise, val_fraction=val_fraction,
                  scaling=scaling, data_path=data_path, model=model)
    rng = np.random.default_rng(DATA_SEED)
    x, y = _raw(cfg, n, rng)
    n = len(x)
    n_classes = int(y.max()) + 1
    perm = rng.permutation(n)
    n_val = max(1, round(n * val_fraction))
    val, tr = perm[:n_val], perm[n_val:]
    x_tr, x_va = scale(x[tr].astype(np.float64), x[val].astype(np.float64), scaling)
    y_tr_true = y[tr].copy()
    y_tr = y_tr_true.copy()
    if label_noise > 0:
        flip = rng.random(len(y_tr)) < label_noise
        y_tr[flip] = rng.integers(0, n_classes, int(flip.sum()))
    if model == "cnn":
        x_tr, x_va = x_tr.reshape(-1, 1, 8, 8), x_va.reshape(-1, 1, 8, 8)

    def t(a, dt=torch.float32):
        return torch.as_tensor(np.ascontiguousarray(a), dtype=dt)

    return Dataset(t(x_tr), t(y_tr, torch.int64), t(x_va), t(y[val], torch.int64), n_classes,
                   t(y_tr_true, torch.int64))
