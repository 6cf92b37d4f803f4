"""`python -m core runs` (core/runs_cli.py): one line and exit 2 for bad values and unusable paths;
stored text printed inert. (Listing, showing and exporting themselves: tests/test_store.py.)"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import Config
from core.results import Experiment, RunResult
from core.runs_cli import main
from core.store import RunStore

REPO = Path(__file__).resolve().parents[1]
EVIL = "x\x1b[2J\x1b]0;owned\x07\x9b31m\u202eevil\ny"  # clear screen, set title, C1 CSI, RTL override, newline


def _one_line(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    return lines[0]


def _doc(name: str, title: str) -> dict:
    run = RunResult.empty(Config(epochs=2, seeds=1), name, layers=1)
    run.epochs_done, run.status, run.seconds = 3, "ok", 0.5
    for m, a in run.metrics.items():
        run.metrics[m] = -np.arange(a.size, dtype=float).reshape(a.shape) / 10  # negative numbers too
    return Experiment(Config(epochs=2, seeds=1), [run], title=title).to_dict()


@pytest.fixture
def evil_store(tmp_path) -> tuple[Path, str]:
    """A store holding a run from an older version, whose title and variant name carry terminal
    escapes and a spreadsheet formula (names are checked at the source now, not back then)."""
    db = tmp_path / "runs.db"
    key = "abcdef" + "0" * 26
    name = '=HYPERLINK("https://evil.example/x","CLICK ME")' + EVIL
    RunStore(db).put(key, _doc(name, EVIL), {"title": EVIL, "status": EVIL, "variants": [name]})
    return db, key


@pytest.mark.parametrize("argv,says", [
    (["list", "--limit", "99999999999999999999999"], "argument --limit: '99999999999999999999999' is not allowed"),
    (["list", "--limit", "0"], "allowed: an integer from 1 to 100000"),
    (["list", "--limit", "1_0"], "not a plain decimal number"),
    (["list", "--limit", "٣"], "not a plain decimal number"),
    (["bogus"], "invalid choice"),
    (["show"], "the following arguments are required: key"),
])
def test_bad_usage_is_one_line_exit_2(tmp_path, capsys, argv, says):
    assert main([*argv, "--store", str(tmp_path / "runs.db")]) == 2
    assert says in _one_line(capsys)


def test_show_of_a_missing_key_is_one_line_exit_2(evil_store, capsys):
    db, _ = evil_store
    for key in ("ffff", "nope", "a\x1b[2Jb", "z" * 30_000):
        assert main(["show", key, "--store", str(db)]) == 2
        line = _one_line(capsys)
        assert line.startswith("error: no stored run with key ") and "\x1b" not in line and len(line) < 200


@pytest.mark.parametrize("kind", ["folder", "fifo"])
def test_a_store_that_is_not_a_regular_file_is_refused(tmp_path, capsys, kind):
    target = tmp_path / "store"
    if kind == "folder":
        target.mkdir()
    else:
        os.mkfifo(target)  # stands in for /dev/null: a device or pipe must never be opened as a store
    for argv in (["list"], ["show", "abc"], ["delete", "abc"]):
        assert main([*argv, "--store", str(target)]) == 2
        assert _one_line(capsys).startswith(f"error: store {target}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]  # nothing moved aside or created


@pytest.mark.parametrize("opt", ["--json", "--csv"])
def test_export_to_an_unusable_path_is_one_line_exit_2_and_writes_nothing(evil_store, tmp_path, capsys, opt):
    db, key = evil_store
    folder = tmp_path / "out"
    folder.mkdir()
    assert main(["export", key[:8], opt, str(folder), "--store", str(db)]) == 2
    assert _one_line(capsys) == f"error: cannot write {folder}: it is a folder; give a file path"
    assert main(["export", key[:8], opt, str(tmp_path / "no" / "x"), "--store", str(db)]) == 2
    assert "does not exist" in _one_line(capsys)
    assert list(folder.iterdir()) == []


def test_list_and_show_print_stored_text_inert(evil_store, capsys):
    db, key = evil_store
    assert main(["list", "--store", str(db)]) == 0
    listed = capsys.readouterr().out
    assert main(["show", key[:6], "--store", str(db)]) == 0
    shown = capsys.readouterr().out
    for out in (listed, shown):
        assert not any(c in out for c in "\x1b\x07\x9b\u202e"), out
        assert "x\\x1b[2J\\x1b]0;owned\\x07\\x9b31m\\u202eevil\\x0ay" in out
    assert len(listed.splitlines()) == 2  # header + one row: a newline in a title adds no line


def test_csv_export_makes_formula_cells_inert_and_keeps_numbers(evil_store, tmp_path):
    db, key = evil_store
    out = tmp_path / "e.csv"
    assert main(["export", key[:8], "--csv", str(out), "--store", str(db)]) == 0
    back = pd.read_csv(out)
    frame = Experiment.from_dict(RunStore(db).get(key)).to_frame()
    assert set(back["variant"]) == {"'" + frame["variant"][0]}
    assert (back["train_loss"] < 0).any() and np.allclose(back["train_loss"], frame["train_loss"])


def test_python_m_core_runs_list_with_a_huge_limit_is_one_line(evil_store):
    db, _ = evil_store
    r = subprocess.run([sys.executable, "-m", "core", "runs", "list", "--limit", "9" * 23, "--store", str(db)],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("error: argument --limit")
