"""The raw example sources: scikit-learn's constructions, and randomness from the given rng only."""
import numpy as np
import pytest

from core import toysets


def test_moons_match_sklearn_shape_of_the_problem():
    # Same construction as sklearn.datasets.make_moons: with no noise, two exact half circles.
    x, y = toysets.moons(100, 0.0, np.random.default_rng(0))
    outer, inner = x[y == 0], x[y == 1]
    assert np.allclose(np.hypot(outer[:, 0], outer[:, 1]), 1.0)
    assert np.allclose(np.hypot(inner[:, 0] - 1, inner[:, 1] - 0.5), 1.0)


def test_circles_match_sklearn_with_factor_one_half():
    x, y = toysets.circles(100, 0.0, np.random.default_rng(0))
    r = np.hypot(x[:, 0], x[:, 1])
    assert np.allclose(r[y == 0], 1.0) and np.allclose(r[y == 1], 0.5)


def test_xor_labels_opposite_quadrants_alike_without_noise():
    x, y = toysets.xor(400, 0.0, np.random.default_rng(0))
    assert np.array_equal(y, (x[:, 0] * x[:, 1] < 0).astype(int))


@pytest.mark.parametrize("gen", [toysets.moons, toysets.circles, toysets.spirals, toysets.xor, toysets.gaussians])
def test_generators_draw_only_from_the_given_rng(gen):
    a = gen(300, 0.2, np.random.default_rng(5))
    b = gen(300, 0.2, np.random.default_rng(5))
    c = gen(300, 0.2, np.random.default_rng(6))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]) and not np.array_equal(a[0], c[0])
    assert a[0].shape == (300, 2) and a[1].shape == (300,)


def test_digits_are_distinct_bundled_images():
    from sklearn.datasets import load_digits
    x, y = toysets.digits(500, np.random.default_rng(0))
    ref = load_digits()
    assert len(ref.data) == toysets.DIGITS_SIZE
    assert x.shape == (500, 64) and x.dtype == np.float32 and y.dtype == np.int64
    # every drawn image, with its label, is one of the bundled ones
    bundled = {(row.astype(np.float32).tobytes(), int(t)) for row, t in zip(ref.data, ref.target, strict=True)}
    assert all((row.tobytes(), int(t)) in bundled for row, t in zip(x, y, strict=True))
