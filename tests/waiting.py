"""What the tests of threads share: a stand-in for Streamlit's rerun exception, and a record of
what threads report with a way to wait until it says enough (an event, never a sleep)."""
from __future__ import annotations

import threading


class Rerun(BaseException):
    """Stands in for Streamlit's RerunException / StopException (BaseException subclasses)."""


class Seen:
    """What threads report (add), and a way to wait until it says something; `timeout` only
    guards against a hang."""

    def __init__(self, timeout: float = 60.0) -> None:
        self.cond = threading.Condition()
        self.items: list = []
        self.timeout = timeout

    def add(self, item) -> None:
        with self.cond:
            self.items.append(item)
            self.cond.notify_all()

    def wait_for(self, pred, what: str) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: pred(self.items), self.timeout), f"timed out waiting for {what}"
