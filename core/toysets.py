"""Where examples come from: the generated 2-D sets and scikit-learn's bundled digits.

Raw examples only (no split, no scaling: core.data does that). Pure numpy, and importing this
module imports nothing heavy, so core.registry can point at these functions.
Each generator takes (n, noise, rng) and returns (x (n, 2), y (n,)); all randomness comes from rng.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np


# moons and circles follow scikit-learn's make_moons/make_circles; written out here because
# importing sklearn.datasets costs about a second, and the page should not wait for it.
def moons(n, noise, rng):
    n_out = n // 2
    t_out, t_in = np.linspace(0, np.pi, n_out), np.linspace(0, np.pi, n - n_out)
    x = np.concatenate([np.stack([np.cos(t_out), np.sin(t_out)], 1),
                        np.stack([1 - np.cos(t_in), 1 - np.sin(t_in) - 0.5], 1)])
    y = np.repeat([0, 1], [n_out, n - n_out])
    return x + rng.normal(0.0, noise, x.shape), y


def circles(n, noise, rng):
    n_out = n // 2
    t_out = np.linspace(0, 2 * np.pi, n_out, endpoint=False)
    t_in = np.linspace(0, 2 * np.pi, n - n_out, endpoint=False)
    x = np.concatenate([np.stack([np.cos(t_out), np.sin(t_out)], 1),
                        0.5 * np.stack([np.cos(t_in), np.sin(t_in)], 1)])
    y = np.repeat([0, 1], [n_out, n - n_out])
    return x + rng.normal(0.0, noise, x.shape), y


def spirals(n, noise, rng):
    # Two arms of 1.75 turns each; noise is in the same units as the arms' unit radius.
    y = np.arange(n) % 2
    t = np.sqrt(rng.uniform(0.0, 1.0, n)) * 1.75 * 2 * np.pi
    r = t / (1.75 * 2 * np.pi)
    phase = y * np.pi
    x = np.stack([r * np.cos(t + phase), r * np.sin(t + phase)], axis=1)
    return x + rng.normal(0.0, noise * 0.2, x.shape), y


def xor(n, noise, rng):
    x = rng.uniform(-1.0, 1.0, (n, 2))
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).astype(int)
    return x + rng.normal(0.0, noise * 0.5, x.shape), y


def gaussians(n, noise, rng):
    centers = np.array([[0.0, 1.0], [-0.87, -0.5], [0.87, -0.5]])
    y = np.arange(n) % 3
    return centers[y] + rng.normal(0.0, 0.35 + noise, (n, 2)), y


DIGITS_SIZE = 1797  # images in scikit-learn's bundled digits set (tests/test_toysets.py checks it)


@lru_cache(maxsize=1)
def _all_digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits  # bundled with scikit-learn: read from disk
    d = load_digits()
    return d.data.astype(np.float32), d.target.astype(np.int64)


def digits(n, rng) -> tuple[np.ndarray, np.ndarray]:
    """n of the 1797 bundled 8x8 digits (all of them in a shuffled order when n = 1797) (flattened to 64 features), chosen by rng."""
    x, y = _all_digits()
    idx = rng.permutation(len(x))[:n]
    return x[idx], y[idx]
