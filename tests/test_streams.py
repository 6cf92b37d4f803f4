"""core.streams: each seed's own random streams, checked against numpy's generator itself."""
import numpy as np
import torch

from core.streams import MEASURE, TRAIN, SeedStreams


def test_a_seeds_batch_order_is_numpys_permutation_of_its_own_stream():
    perm = SeedStreams([7, 3], TRAIN).permutations(10)
    for row, seed in zip(perm.numpy(), (7, 3), strict=True):
        want = np.random.Generator(np.random.PCG64([seed, TRAIN])).permutation(10)
        np.testing.assert_array_equal(row, want)


def test_what_a_seed_draws_does_not_depend_on_the_seeds_beside_it():
    alone = SeedStreams([3], TRAIN)
    beside = SeedStreams([1, 3, 5], TRAIN)
    for _ in range(3):
        torch.testing.assert_close(beside.keep_mask(0.5, 4, 6)[1], alone.keep_mask(0.5, 4, 6)[0], rtol=0, atol=0)


def test_measuring_draws_from_another_stream_than_training():
    a = SeedStreams([3], TRAIN).keep_mask(0.5, 64, 64)
    b = SeedStreams([3], MEASURE).keep_mask(0.5, 64, 64)
    assert not torch.equal(a, b)
    assert set(torch.unique(a).tolist()) == {0.0, 2.0}  # inverted dropout: survivors scaled by 1 / (1 - p)
