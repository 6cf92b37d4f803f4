"""A reduced seminar load test against the real server (bench.load): 6 visitors, 3 identical.

Skipped when /usr/bin/chromium or playwright is missing, unless REQUIRE_BROWSER=1 (then it fails).
"""
from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_reduced_load(need_browser, capsys):
    from bench.load import run_load

    # Short runs (epochs=4) keep it under a minute on two cores; the sharing, the
    # exception-free pages and the memory bound are what is checked.
    out = run_load(sessions=6, same=3, epochs=4, timeout=150, verbose=True)  # a bound against hangs, not a target
    with capsys.disabled():
        f = out["figures"]
        print(f"\n[load, 6 sessions] median {f['median_s']:.1f} s, max {f['max_s']:.1f} s to charts; "
              f"{f['trainings']} trainings for {f['distinct']} experiments; peak memory {f['peak_rss_mb']:.0f} MB PSS")
    failed = [(name, detail) for name, ok, detail in out["checks"] if not ok]
    assert not failed, failed
    assert out["figures"]["trainings"] == 4  # 3 identical + 3 other presets
