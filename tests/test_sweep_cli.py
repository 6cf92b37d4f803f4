"""`python -m core sweep`: one-line errors with exit code 2, the tidy and summary files, the
store (kept, listed, served), presets with flags, and the dropout sweep's claim."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from core.cli import main
from core.sweep import MAIN_METRICS, SWEEP_PRESETS

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--n-samples", "100", "--epochs", "2", "--seeds", "2", "--width", "8", "--batch-size", "16", "--quiet"]


@pytest.mark.parametrize("argv, says", [
    (["--grid", "dropoutt=0,1"], "error: grid: 'dropoutt' is not allowed (not a setting)"),
    (["--grid", "dropout=0,1.5"], "error: dropout: '1.5' is not allowed; allowed: a number from 0 to 0.95"),
    (["--grid", "lr=0.1,x"], "error: lr: 'x' is not allowed"),
    (["--grid", "seeds=1,2"], "error: grid: 'seeds' is not allowed"),
    (["--grid", "dropout=0,0.5", "--dropout", "0.3"], "error: dropout: '0.3' is not allowed; allowed: either --grid"),
    (["--grid", "dropout=0,0.5", "--width", "0"], "error: width: '0' is not allowed"),
    (["--grid", "model=mlp,cnn"], "error: model: 'cnn' is not allowed"),
    ([], "error: a sweep needs --grid"),
    (["--preset", "nope"], "error: preset: 'nope' is not allowed; allowed: dropout-sweep, dying-relu-lr"),
    (["--grid", "dropout=0", "--no-store", "--retrain"], "error: --no-store cannot be combined"),
    (["--grid", "dropout=0", "--bogus"], "error: unrecognized arguments: --bogus"),
])
def test_bad_input_is_one_line_and_exit_2_before_training(argv, says, capsys, count_trainings, tmp_path):
    out = tmp_path / "s.csv"
    assert main(["sweep", *argv, "--csv", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(says) and err.count("\n") == 1, err
    assert count_trainings == [] and not out.exists()


def test_an_output_path_that_cannot_be_written_exits_2_before_training(tmp_path, capsys, count_trainings):
    assert main(["sweep", "--grid", "dropout=0,0.5", *TINY, "--summary-csv", str(tmp_path)]) == 2
    assert "it is a folder" in capsys.readouterr().err and count_trainings == []


def test_files_tidy_summary_and_json(tmp_path, capsys):
    c, sc, js = tmp_path / "s.csv", tmp_path / "sum.csv", tmp_path / "s.json"
    argv = ["sweep", "--grid", "dropout=0,0.5", "--grid", "activation=relu,linear", *TINY, "--no-store",
            "--csv", str(c), "--summary-csv", str(sc), "--json", str(js)]
    assert main(argv) == 0
    out = capsys.readouterr().out
    head = out.splitlines()[0].split()
    assert head[:2] == ["dropout", "activation"] and "loss" in head and "agree" in head
    assert len([line for line in out.splitlines() if line.startswith(("0.0 ", "0.5 "))]) == 4
    tidy = pd.read_csv(c)
    assert len(tidy) == 4 * 2 * 3 * 2  # points x seeds x (epochs + 1) x layers
    assert not tidy.duplicated(["dropout", "activation", "seed", "epoch", "layer"]).any()
    assert set(tidy.activation) == {"relu", "linear"} and set(tidy.dropout) == {0.0, 0.5}
    summ = pd.read_csv(sc)
    assert list(summ.columns) == ["dropout", "activation", "metric", "mean", "lo", "hi", "n"]
    assert len(summ) == 4 * len(MAIN_METRICS)
    doc = json.loads(js.read_text())
    assert doc["sweep"]["grid"] == [["dropout", [0.0, 0.5]], ["activation", ["relu", "linear"]]]
    assert doc["sweep"]["networks"] == 8 and len(doc["sweep"]["summary"]) == len(summ)
    assert len(doc["variants"]) == 4 and doc["variants"][0]["name"] == "dropout 0, activation relu"


def test_kept_listed_then_served_not_retrained(tmp_path, capsys, count_trainings):
    from core.runs_cli import main as runs_main

    db = tmp_path / "runs.db"
    argv = ["sweep", "--grid", "dropout=0,0.5", *TINY, "--store", str(db)]
    assert main(argv) == 0
    first = capsys.readouterr()
    assert "kept in the run store" in first.err and len(count_trainings) == 1
    assert runs_main(["list", "--store", str(db)]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split()[:3] == ["KEY", "CREATED", "KIND"] and " sweep " in listed[1]
    assert main(argv) == 0
    again = capsys.readouterr()
    assert "served from the run store" in again.err and len(count_trainings) == 1
    assert again.out == first.out  # the same table either way
    assert main([*argv, "--retrain"]) == 0
    assert "kept in the run store" in capsys.readouterr().err and len(count_trainings) == 2


def test_preset_with_flags_and_grids():
    from core.sweep_cli import build_parser, resolve

    def sweep(*argv):
        return resolve(build_parser().parse_args(list(argv)))

    pre = SWEEP_PRESETS["dropout-sweep"]
    s = sweep("--preset", "dropout-sweep", "--seeds", "2", "--epochs", "7")
    assert s.grid == pre.grid and s.base.seeds == 2 and s.base.epochs == 7 and s.base.width == pre.base.width
    assert s.preset == "dropout-sweep" and s.title == pre.title
    only_relu = sweep("--preset", "dropout-sweep", "--activation", "relu")  # a flag fixes a swept field
    assert only_relu.fields == ("dropout",) and only_relu.base.activation == "relu"
    s = sweep("--preset", "dropout-sweep", "--grid", "dropout=0,0.4", "--grid", "width=8,16")
    assert s.grid == (("dropout", (0.0, 0.4)), ("activation", ("relu", "linear")), ("width", (8, 16)))


def test_python_m_core_sweep_in_a_real_process(tmp_path):
    """The command as a user runs it: progress bar and notes on stderr, the table on stdout; a bad
    value exits 2 with one line."""
    base = [sys.executable, "-m", "core", "sweep", "--grid", "dropout=0,0.5", "--n-samples", "100",
            "--epochs", "2", "--seeds", "2", "--width", "8", "--store", str(tmp_path / "r.db")]
    r = subprocess.run(base, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "epoch" in r.stderr and "kept in the run store" in r.stderr and "loss gap" in r.stdout
    bad = subprocess.run([*base, "--grid", "activation=relu,nope"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "activation: 'nope'" in bad.stderr


def test_dropout_sweep_the_loss_gap_falls_as_p_grows_for_relu(tmp_path, capsys):
    """The issue's done-when at its own settings (5 seeds, 50 epochs), ReLU's half of the preset
    (`--activation relu`: the linear points train apart and do not change ReLU's numbers)."""
    sc, c = tmp_path / "sum.csv", tmp_path / "s.csv"
    assert main(["sweep", "--preset", "dropout-sweep", "--activation", "relu", "--seeds", "5", "--epochs", "50",
                 "--no-store", "--quiet", "--summary-csv", str(sc), "--csv", str(c)]) == 0
    summ = pd.read_csv(sc)
    gap = summ[summ.metric == "gap_loss"].sort_values("dropout")
    assert list(gap.dropout) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8] and (gap.n == 5).all()
    rho = stats.spearmanr(gap.dropout, gap["mean"]).statistic
    assert rho < -0.9, gap
    assert gap["mean"].iloc[-1] < gap["mean"].iloc[0] / 2
    assert gap.hi.iloc[-1] < gap.lo.iloc[0]  # p = 0.8 below p = 0, beyond both intervals
    tidy = pd.read_csv(c)
    assert len(tidy) == 9 * 5 * 51 * 2
    agree = summ[summ.metric == "mask_agreement"].sort_values("dropout")["mean"].to_numpy()
    assert agree[0] == 1.0 and np.all(agree[1:] < 1.0)
