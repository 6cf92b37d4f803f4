"""Process-wide settings of a server, applied once at start by `apply_process_settings(limits)`.

Each run also gets its own thread cap (Limits.torch_threads, passed to the engine as
max_threads); what is set here belongs to the whole process, so it is set in one place, when
the server starts, and never from inside a getter:

* torch's intra-op thread count, capped at `torch_threads` (hosted: 1, so two trainings share
  two cores and the page stays responsive). Torch keeps the count per thread (OpenMP) and
  starts each new thread with the last value set, so every training thread started later
  begins capped; and core.train's own cap (`MAX_THREADS`, when the engine has it), which
  choose_threads and the measuring thread read;
* Python's switch interval. Trainings run in threads of the server, and the engine releases
  the GIL at every (tiny) torch op. With Python's default 5 ms, each time it wants the GIL back
  while a page thread builds a figure it waits up to 5 ms: three busy threads made two
  trainings 15x slower (relu-vs-dropout 3.6 s -> 64 s). At 0.2 ms (core.train.SWITCH_INTERVAL_S,
  which the engine also uses while it measures beside training) they took 7 s.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass

from core.serve.limits import Limits

SWITCH_INTERVAL_S = 0.0002  # used if core.train does not name its own


@dataclass(frozen=True)
class ProcessSettings:
    torch_threads: int          # torch.get_num_threads()
    max_threads: int | None     # core.train.MAX_THREADS (None: no cap, or no such hook)
    switch_interval: float      # sys.getswitchinterval()


def current_settings() -> ProcessSettings:
    import torch

    import core.train as train

    return ProcessSettings(torch.get_num_threads(), getattr(train, "MAX_THREADS", None), sys.getswitchinterval())


def apply_process_settings(limits: Limits) -> ProcessSettings:
    """Cap torch's threads at limits.torch_threads (None: leave them) and shorten the switch
    interval. Returns the settings as they were before, for restore_process_settings."""
    import torch

    import core.train as train

    before = current_settings()
    n = limits.torch_threads
    if n is not None:
        if hasattr(train, "MAX_THREADS"):  # the engine's own cap, read by choose_threads
            train.MAX_THREADS = n
        if torch.get_num_threads() > n:
            torch.set_num_threads(n)
    interval = getattr(train, "SWITCH_INTERVAL_S", SWITCH_INTERVAL_S)
    if sys.getswitchinterval() > interval:
        sys.setswitchinterval(interval)
    return before


def restore_process_settings(settings: ProcessSettings) -> None:
    """Put back what apply_process_settings returned (tests and benchmarks that change modes)."""
    import torch

    import core.train as train

    torch.set_num_threads(settings.torch_threads)
    if hasattr(train, "MAX_THREADS"):
        train.MAX_THREADS = settings.max_threads
    sys.setswitchinterval(settings.switch_interval)
