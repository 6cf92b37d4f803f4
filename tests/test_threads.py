"""Thread choice: one thread for small steps, every core for large ones, never above the cap."""
import pytest

from core.config import validate
from core.threads import CORES, SMALL_STEP_MACS, choose_threads

W1 = validate(dataset="moons", n_samples=1000, width=64, depth=2, seeds=5, batch_size=64)
BIG = validate(width=1024, depth=4, seeds=8, n_samples=20000, batch_size=0)


def test_the_examples_sit_on_either_side_of_the_threshold():
    # Plain arithmetic, not core.cost: 5 seeds x 64 rows x (2*64 + 64*64 + 64*2) MACs; 8 x 14000 x
    # (2*1024 + 3*1024*1024 + 1024*2).
    assert 5 * 64 * (2 * 64 + 64 * 64 + 64 * 2) < SMALL_STEP_MACS < 8 * 14000 * (3 * 1024 * 1024)


@pytest.mark.parametrize("cores", [1, 2, 8])
def test_a_small_step_gets_one_thread_a_large_one_every_core(cores):
    assert choose_threads(W1, 2, 700, cores=cores) == 1
    assert choose_threads(BIG, 2, 14000, cores=cores) == cores


@pytest.mark.parametrize("max_threads, want", [(1, 1), (3, 3), (16, 8), (0, 1)])
def test_the_cap_wins(max_threads, want):
    assert choose_threads(BIG, 2, 14000, max_threads, cores=8) == want
    assert choose_threads(W1, 2, 700, max_threads, cores=8) == 1


def test_cores_default_to_the_count_read_at_import():
    assert choose_threads(BIG, 2, 14000) == CORES
