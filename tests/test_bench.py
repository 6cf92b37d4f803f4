"""bench's summary of the speed targets: each row compares the right figures with the right limit."""
from bench.__main__ import targets_table


def _res(speedup=11.0, ratio=3.2, overhead=0.26, rss=300.0):
    return {
        "w1": {"baseline_s": 9.8, "engine_s": 9.8 / speedup, "speedup": speedup},
        "seeds": {"seeds5_s": 0.8, "seeds20_s": 0.8 * ratio, "ratio": ratio, "ratio_floor": 2.9},
        "metrics": {"with_metrics_s": 0.68 * (1 + overhead), "training_only_s": 0.68, "overhead": overhead},
        "memory": {"peak_rss_mb": rss},
    }


def test_targets_table_marks_met_and_missed_targets():
    t = targets_table(_res())
    assert list(t["met"]) == [True, False, True, True]
    assert t.loc[1, "measured"] == "3.20x (CPU floor 2.90x)" and t.loc[2, "measured"] == "+26%"


def test_targets_table_limits_are_inclusive_where_the_issue_says_at_most():
    assert list(targets_table(_res(speedup=10.0, ratio=2.0, overhead=0.30, rss=400.0))["met"]) == [True, True, True, False]
    assert list(targets_table(_res(speedup=9.99, ratio=2.01, overhead=0.301, rss=399.0))["met"]) == [False, False, False, True]


def test_the_grouped_comparison_needs_its_speed_up_and_the_same_numbers():
    res = _res()
    res["grouped"] = {"sequential_s": 3.0, "grouped_s": 2.0, "speedup": 1.5, "max_abs_diff": 0.0}
    t = targets_table(res)
    assert len(t) == 5 and bool(t.loc[4, "met"]) and t.loc[4, "measured"] == "1.50x, max diff 0"
    res["grouped"]["max_abs_diff"] = 1e-7
    assert not bool(targets_table(res).loc[4, "met"])
    res["grouped"].update(speedup=1.49, max_abs_diff=0.0)
    assert not bool(targets_table(res).loc[4, "met"])
