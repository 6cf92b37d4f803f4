"""Live-chart pacing over the server's sessions, and the one line a failed training gets."""
from __future__ import annotations

from contextlib import ExitStack

import pytest

from core.config import ConfigError
from dashboard.views import pacing


def test_redraws_slow_down_as_more_sessions_watch_and_recover_after():
    assert pacing.redraw_interval() == pacing.REDRAW_SECONDS  # nobody watching: the floor
    with ExitStack() as stack:
        for _ in range(10):
            stack.enter_context(pacing.watching())
        assert pacing.redraw_interval() == 10 / pacing.REDRAW_SHARE  # 5 s: two redraws a second in all
    assert pacing.redraw_interval() == pacing.REDRAW_SECONDS


def test_a_session_that_fails_while_watching_is_no_longer_counted():
    with pytest.raises(RuntimeError), pacing.watching():
        raise RuntimeError("boom")
    assert pacing._sessions == [0]


def test_error_lines_name_bad_input_as_not_trained_and_escape_it():
    bad = ConfigError("width", 0, "a whole number from 1 to 1024")
    assert pacing.error_line(bad) == "Not trained: width: 0 is not allowed; allowed: a whole number from 1 to 1024"
    assert pacing.error_line(ValueError("scale < 0")) == "Training failed (ValueError): scale \\< 0"
    assert pacing.error_line(ValueError("")) == "Training failed (ValueError): no details"
