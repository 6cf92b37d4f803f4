"""Shared by the run_guarded tests (tests/test_serve_guarded*.py): small and long runs, hosted
limits, a stand-in for Streamlit's rerun exception (tests/waiting.py) and a watcher that records
epochs (their fixtures, jobs, calls and guard, are in tests/conftest.py)."""
from __future__ import annotations

from waiting import Rerun, Seen  # noqa: F401 (Rerun: the guarded tests take it from here)

from core.serve.limits import HOSTED_MAX_WORK, Limits

TINY = dict(n_samples=100, epochs=3, width=8, seeds=2, batch_size=32)
LONG = dict(TINY, epochs=3000)  # about 20 s if nobody stops it
HOSTED = Limits(hosted=True, max_work=HOSTED_MAX_WORK, max_seconds=60.0, max_memory_mb=512)  # threads untouched
TIMEOUT = 60.0  # only a guard against a hang


class Epochs(Seen):
    """Epochs a watcher was shown (its on_epoch), and a way to wait until it has seen enough."""

    def __init__(self) -> None:
        super().__init__(TIMEOUT)

    def __call__(self, exp, vi, epoch) -> None:
        self.add(epoch)

    @property
    def seen(self) -> list[int]:
        return self.items


class Interrupting(Epochs):
    """A watcher whose page is interrupted: it records its epochs and raises `exc` (Streamlit's
    rerun or stop signal) once it has seen `after` of them."""

    def __init__(self, exc: type[BaseException], after: int) -> None:
        super().__init__()
        self.exc, self.after = exc, after

    def __call__(self, exp, vi, epoch) -> None:
        super().__call__(exp, vi, epoch)
        if len(self.seen) >= self.after:
            raise self.exc()


def codes(notes) -> list[str]:
    return [n.code for n in notes]

