"""bench/sweep.py (W2): the targets table compares the right figures with the right limits, and
the quick mode runs the whole benchmark (the sweep's numbers equal its points trained alone)."""
import math

from bench.sweep import targets_table


def _res(speedup=2.5, plain=12.0, rss=900.0):
    return {"sweep": {"sweep_s": 10.0, "points_s": 10.0 * speedup, "speedup": speedup, "max_abs_diff": 0.0},
            "plain": {"plain_s": 10.0 * plain, "plain_seeds": 2, "scale": 5.0},
            "memory": {"peak_rss_mb": rss}}


def test_w2_targets_table_marks_met_and_missed_targets():
    t = targets_table(_res())
    assert list(t["met"]) == [True, True, True]
    assert t.loc[1, "measured"] == "12.0x (plain loop: 2 seeds per point, x5)"
    assert list(targets_table(_res(speedup=2.0, plain=10.0, rss=1535.0))["met"]) == [True, True, True]
    assert list(targets_table(_res(speedup=1.99, plain=9.99, rss=1536.0))["met"]) == [False, False, False]


def test_quick_w2_runs_every_part(capsys):
    from bench.sweep import run

    res = run(quick=True, memory=False)
    out = capsys.readouterr().out
    assert "W2 targets" in out and "sweep cost in points and seeds" in out and "arithmetic floor" in out
    assert 0 < res["floor"]["floor_s"] < res["sweep"]["sweep_s"]  # no engine beats its own arithmetic
    assert res["sweep"]["max_abs_diff"] <= 1e-4  # the sweep's points are their settings trained alone
    assert res["plain"]["scale"] == 2.0 and res["plain"]["plain_s"] > 0
    assert math.isnan(res["memory"]["peak_rss_mb"])
    rows = res["scaling"]
    assert [(r["vary"], r["points"], r["seeds"]) for r in rows] == [
        ("points", 1, 4), ("points", 3, 4), ("seeds", 3, 1), ("seeds", 3, 4)]
    assert all(r["networks"] == r["points"] * r["seeds"] for r in rows)
