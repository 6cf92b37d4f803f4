"""How many threads a run uses: one for small steps, every core for large ones, never above a cap.

The number of cores is read once, here, and every function takes it as a parameter (tests pass
their own): nothing else in the engine reads or changes it.
"""
from __future__ import annotations

import torch

from core.config import Config
from core.cost import step_macs

# torch's default intra-op thread count, read at import: the cores this process may use (it
# honours OMP_NUM_THREADS and the CPU affinity, which os.cpu_count does not).
CORES = torch.get_num_threads()
SMALL_STEP_MACS = 20_000_000


def choose_threads(cfg: Config, n_in: int, n_train: int, max_threads: int | None = None,
                   cores: int = CORES) -> int:
    """One thread for small steps: splitting a tiny matmul across cores costs more than it saves
    (measured: 4x faster on the reference workload), and it leaves the other core to the page
    or to another user's run. Large steps get every core. max_threads caps it (hosted mode: 1,
    two runs on two cores)."""
    n = 1 if step_macs(cfg, n_in, n_train) < SMALL_STEP_MACS else cores
    return n if max_threads is None else max(1, min(n, max_threads))


def thread_setup(threads: int) -> None:
    """What every thread that runs a network sets for itself: both settings are per thread.

    Denormals: tiny values late in training otherwise fall into them and make CPU steps many
    times slower. Threads: a new thread's OpenMP count is every core, so a large matmul in the
    measuring thread would take the training thread's core too."""
    torch.set_flush_denormal(True)
    torch.set_num_threads(threads)
