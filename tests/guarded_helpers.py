"""Shared by the run_guarded tests (tests/test_serve_guarded*.py): small and long runs, hosted
limits, a stand-in for Streamlit's rerun exception and a watcher that records epochs (their
fixtures, jobs, calls and guard, are in tests/conftest.py)."""
from __future__ import annotations

import threading

from core.serve.limits import HOSTED_MAX_WORK, Limits

TINY = dict(n_samples=100, epochs=3, width=8, seeds=2, batch_size=32)
LONG = dict(TINY, epochs=3000)  # about 20 s if nobody stops it
HOSTED = Limits(hosted=True, max_work=HOSTED_MAX_WORK, max_seconds=60.0, max_memory_mb=512)  # threads untouched
TIMEOUT = 60.0  # only a guard against a hang


class Rerun(BaseException):
    """Stands in for Streamlit's RerunException / StopException (BaseException subclasses)."""


class Epochs:
    """Epochs a watcher was shown, and a way to wait until it has seen enough."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.seen: list[int] = []

    def __call__(self, exp, vi, epoch) -> None:
        with self.cond:
            self.seen.append(epoch)
            self.cond.notify_all()

    def wait_for(self, pred, what: str) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: pred(self.seen), TIMEOUT), f"timed out waiting for {what}"


def codes(notes) -> list[str]:
    return [n.code for n in notes]

