"""Process-wide settings of a server, applied once at start by `apply_process_settings(limits)`.

Each run also gets its own thread cap (Limits.torch_threads, passed to the engine as
max_threads); what is set here belongs to the whole process, so it is set in one place, when
the server starts, and never from inside a getter:

* torch's intra-op thread count, capped at `torch_threads` (hosted: 1, so two trainings share
  two cores and the page stays responsive). Torch keeps the count per thread (OpenMP) and
  starts each new thread with the last value set, so every training thread started later
  begins capped (each run's own cap reaches core.train as max_threads: see core.serve.jobs);
* Python's switch interval. Trainings run in threads of the server, and the engine releases
  the GIL at every (tiny) torch op. With Python's default 5 ms, each time it wants the GIL back
  while a page thread builds a figure it waits up to 5 ms: three busy threads made two
  trainings 15x slower (relu-vs-dropout 3.6 s -> 64 s). At 0.2 ms (core.recorder.SWITCH_INTERVAL_S,
  which the engine also uses while it measures beside training) they took 7 s.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from core.recorder import SWITCH_INTERVAL_S
from core.serve.limits import Limits


@dataclass(frozen=True)
class ProcessSettings:
    torch_threads: int          # torch.get_num_threads()
    switch_interval: float      # sys.getswitchinterval()


def current_settings() -> ProcessSettings:
    import torch

    return ProcessSettings(torch.get_num_threads(), sys.getswitchinterval())


def apply_process_settings(limits: Limits) -> ProcessSettings:
    """Cap torch's threads at limits.torch_threads (None: leave them) and shorten the switch
    interval. Returns the settings as they were before, for restore_process_settings."""
    import torch

    before = current_settings()
    n = limits.torch_threads
    if n is not None and torch.get_num_threads() > n:
        torch.set_num_threads(n)
    if sys.getswitchinterval() > SWITCH_INTERVAL_S:
        sys.setswitchinterval(SWITCH_INTERVAL_S)
    return before


def restore_process_settings(settings: ProcessSettings) -> None:
    """Put back what apply_process_settings returned (tests and benchmarks that change modes)."""
    import torch

    torch.set_num_threads(settings.torch_threads)
    sys.setswitchinterval(settings.switch_interval)
