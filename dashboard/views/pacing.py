"""Pacing of live charts on the pages that train (Lab, Sweep), and the one line a failed training
gets. Each live chart is a figure built on the server and drawn in a browser: with thirty visitors
watching, each is redrawn less often, so the redraws do not take the training's cores."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from core import serve
from core.config import ConfigError
from core.csvdata import DataError
from dashboard.views.common import md_escape

REDRAW_SECONDS = 0.3  # live redraws at most ~3 times a second, with one session training
REDRAW_SHARE = 2.0    # ... and about this many redraws a second over all sessions of the server
_lock = threading.Lock()
_sessions = [0]  # sessions of this server drawing live curves now


def redraw_interval() -> float:
    """Seconds between two redraws of one session's live charts, now."""
    with _lock:
        n = _sessions[0]
    return max(REDRAW_SECONDS, n / REDRAW_SHARE)


@contextmanager
def watching() -> Iterator[None]:
    """Count this session among those drawing live curves while the block runs."""
    with _lock:
        _sessions[0] += 1
    try:
        yield
    finally:
        with _lock:
            _sessions[0] -= 1


def error_line(e: Exception) -> str:
    """One sentence for the page, never a traceback (user text inside is markdown-escaped)."""
    if isinstance(e, (serve.ServeError, ConfigError, DataError)):
        return f"Not trained: {md_escape(str(e))}"
    return f"Training failed ({type(e).__name__}): {md_escape(str(e)) or 'no details'}"
