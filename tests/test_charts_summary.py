"""The page's table of final numbers (dashboard/charts/summary.py)."""
from __future__ import annotations

from dashboard.charts import summary


def test_summary_rows(tiny_experiment):
    rows = summary.summary_rows(tiny_experiment)
    assert [r["variant"] for r in rows] == ["ReLU", "dropout"]
    assert "±" in rows[0]["val acc"] and "status" not in rows[0]


def test_summary_numbers_are_last_epoch_mean_and_std_over_seeds():
    from core.config import validate
    from core.results import RunResult

    r = RunResult.empty(validate(epochs=1, seeds=2, depth=2), "hand", 2)
    r.metrics["val_acc"][:] = [[0.1, 0.5], [0.1, 0.7]]  # last epoch: 0.5 and 0.7
    r.metrics["dead"][:] = [[[9, 9], [1, 2]], [[9, 9], [3, 4]]]  # all layers together: 3 and 7
    r.metrics["mask_agreement"][:] = [[[0, 0], [1.0, 0.0]], [[0, 0], [0.5, 0.0]]]  # layer 1: 1.0, 0.5
    r.epochs_done, r.status = 2, "stopped"
    pending = RunResult.empty(validate(epochs=1, seeds=2, depth=2), "pending", 2)
    pending.status = "stopped"
    row, empty = summary.summary_rows([r, pending])
    assert row["val acc"] == "0.600 ± 0.100"
    assert row["dead units"] == "5.0 ± 2.0 of 128"  # 2 hidden layers of the default 64 units
    assert row["mask agree"] == "0.750 ± 0.250"
    assert row["acc gap"] == "–"  # never measured (all NaN)
    assert row["status"] == "stopped (1 epochs)"
    assert empty["val acc"] == "–" and empty["status"] == "stopped (0 epochs)"
    assert list(row) == ["variant", "status", *(label for _, label in summary.SUMMARY)]


def test_a_formula_name_is_inert_in_the_tables_csv_download(tiny_experiment):
    import copy

    exp = copy.deepcopy(tiny_experiment)
    exp.runs[0].name = '=HYPERLINK("https://evil.example/x","CLICK ME")'
    rows = summary.summary_rows(exp)
    assert rows[0]["variant"] == "'" + exp.runs[0].name and rows[1]["variant"] == exp.runs[1].name


def test_mask_agreement_is_not_applicable_to_sigmoid_and_says_why():
    from core.config import validate
    from core.results import RunResult

    r = RunResult.empty(validate(epochs=1, seeds=2, depth=2, activation="sigmoid"), "sigmoid", 2)
    r.metrics["val_acc"][:] = 0.5
    r.epochs_done, r.status = 2, "ok"
    (row,) = summary.summary_rows([r])
    assert row["mask agree"] == "n/a: sigmoid is never off (every output is > 0)"
    assert row["val acc"] == "0.500 ± 0.000"
