"""`python -m core runs` and the run store at the command line: list, show, export, delete; a
path that is not a store, and a read-only store, for `runs` and `run` alike; one line and exit 2
for bad values and unusable paths; stored text printed inert."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.config import Config
from core.results import Experiment, RunResult
from core.runs_cli import main as runs_main
from core.store import RunStore, experiment_key

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store" / "runs.db"


# --- CLI --------------------------------------------------------------------------------

def _experiment_doc(title: str = "demo") -> dict:
    run = RunResult.empty(Config(epochs=2, seeds=2), "A", layers=2)
    run.epochs_done, run.status, run.seconds = 2, "ok", 1.25
    for m, a in run.metrics.items():
        run.metrics[m] = np.arange(a.size, dtype=float).reshape(a.shape) / 10
    return Experiment(Config(epochs=2, seeds=2), [run], title=title).to_dict()


@pytest.fixture
def cli_store(db: Path) -> tuple[Path, str]:
    s = RunStore(db)
    key = experiment_key([Config(epochs=2, seeds=2)], "test")
    s.put(key, _experiment_doc(), {"title": "demo run", "status": "ok", "seconds": 1.25})
    return db, key


def test_cli_list_and_show(cli_store, capsys) -> None:
    db, key = cli_store
    assert runs_main(["list", "--store", str(db)]) == 0
    out = capsys.readouterr().out
    assert key[:12] in out and "demo run" in out and "ok" in out and "1.2" in out
    assert runs_main(["runs", "--store", str(db)]) == 0  # leading "runs", default command, --store first
    assert key[:12] in capsys.readouterr().out
    assert runs_main(["show", key[:12], "--store", str(db)]) == 0
    out = capsys.readouterr().out
    assert key in out and "demo run" in out and "settings:" in out
    assert any(line.split() == ["epochs", "2"] for line in out.splitlines())
    assert "variant A: ok" in out


def test_cli_export_json_and_csv(cli_store, tmp_path: Path) -> None:
    db, key = cli_store
    jp, cp = tmp_path / "out" / "e.json", tmp_path / "out" / "e.csv"
    jp.parent.mkdir()
    assert runs_main(["export", key[:8], "--json", str(jp), "--csv", str(cp), "--store", str(db)]) == 0
    exp = Experiment.from_dict(_experiment_doc())
    assert json.loads(jp.read_text()) == json.loads(json.dumps(exp.export()))
    frame = pd.read_csv(cp)
    assert len(frame) == 2 * 2 * 2 and list(frame.columns) == list(exp.to_frame().columns)
    assert sorted(p.name for p in jp.parent.iterdir()) == ["e.csv", "e.json"]  # no temp files left


def test_cli_export_failure_leaves_existing_file(db: Path, tmp_path: Path, capsys) -> None:
    s = RunStore(db)
    s.put("bad0000000000000", {"not": "an experiment"}, {"title": "broken"})
    out = tmp_path / "e.json"
    out.write_text("old")
    assert runs_main(["export", "bad", "--json", str(out), "--store", str(db)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error:")
    assert out.read_text() == "old" and [p.name for p in tmp_path.iterdir() if p.name != "store"] == ["e.json"]


def test_cli_errors_are_one_line_exit_2(cli_store, capsys) -> None:
    db, key = cli_store
    s = RunStore(db)
    s.put("abc1" + "0" * 28, _experiment_doc(), {})
    s.put("abc2" + "0" * 28, _experiment_doc(), {})
    capsys.readouterr()
    for argv in (["show", "zzz"], ["show", "abc"], ["delete", "zzz"], ["export", "zzz", "--json", "x.json"],
                 ["export", key]):
        assert runs_main([*argv, "--store", str(db)]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith("error:"), (argv, err)
    assert runs_main(["show", "abc", "--store", str(db)]) == 2
    assert "ambiguous" in capsys.readouterr().err
    assert runs_main(["bogus", "--store", str(db)]) == 2  # argparse usage error, no SystemExit


def test_cli_delete(cli_store, capsys) -> None:
    db, key = cli_store
    assert runs_main(["delete", key[:12], "--store", str(db)]) == 0
    assert f"deleted {key}" in capsys.readouterr().out
    assert RunStore(db).get(key) is None
    assert runs_main(["list", "--store", str(db)]) == 0
    assert "no runs" in capsys.readouterr().out


def test_cli_unusable_store_is_one_line_exit_2(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "a-folder"
    folder.mkdir()
    for argv in (["list"], ["show", "abc"]):
        assert runs_main([*argv, "--store", str(folder)]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and err.startswith(f"error: store {folder}:"), err


def test_python_m_core_runs_end_to_end(cli_store) -> None:
    db, key = cli_store
    env = {**os.environ, "RELU_LAB_STORE": str(db)}
    r = subprocess.run([sys.executable, "-m", "core", "runs", "list"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and key[:12] in r.stdout and "demo run" in r.stdout, r.stderr
    r = subprocess.run([sys.executable, "-m", "core", "runs", "show", "nope"], cwd=REPO, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and r.stderr.startswith("error:")


# --- the store path is not a store, or cannot be written ----------------------------------

TINY = ["--n-samples", "100", "--epochs", "2", "--seeds", "2", "--width", "8", "--batch-size", "16", "--quiet"]


def test_cli_a_file_that_is_not_a_store_is_refused_untouched(tmp_path: Path, capsys, count_trainings) -> None:
    """`runs list --store /etc/hostname` renamed that file aside and put a database in its place.
    Now every command refuses it in one line and leaves it alone (a copy stands for /etc/hostname)."""
    from core.cli import main

    etc = tmp_path / "etc"
    etc.mkdir()
    hostname = etc / "hostname"
    hostname.write_text("lab-host\n")
    before = hostname.stat()
    expected = f"error: store {hostname}: not a run store (it is not a SQLite file); nothing was changed"
    for argv in (["list"], ["show", "abc"], ["delete", "abc"], ["export", "abc", "--json", "-"]):
        assert runs_main([*argv, "--store", str(hostname)]) == 2, argv
        assert capsys.readouterr().err.strip() == expected
    assert main(["run", *TINY, "--store", str(hostname)]) == 2
    assert capsys.readouterr().err.strip() == expected and count_trainings == []  # before any training
    after = hostname.stat()
    assert hostname.read_text() == "lab-host\n" and os.listdir(etc) == ["hostname"]
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (before.st_ino, before.st_mtime_ns, before.st_size)


@pytest.mark.parametrize("what", ["folder", "file"])
def test_cli_a_read_only_store_serves_its_runs_and_says_so_once(cli_store, read_only, capsys, what) -> None:
    db, key = cli_store
    read_only(db.parent if what == "folder" else db)
    said = f"warning: the run store {db} is read-only: stored runs are served, new ones are not kept"
    assert runs_main(["list", "--store", str(db)]) == 0
    out = capsys.readouterr()
    assert key[:12] in out.out and "demo run" in out.out and out.err.strip() == said
    assert runs_main(["show", key[:12], "--store", str(db)]) == 0
    assert "variant A: ok" in capsys.readouterr().out
    assert runs_main(["delete", key[:12], "--store", str(db)]) == 1
    assert capsys.readouterr().err.strip().splitlines() == [said, f"error: the run store {db} is read-only: "
                                                                  "nothing was deleted"]
    assert RunStore(db).get(key) is not None
    if what == "folder":
        assert sorted(os.listdir(db.parent)) == ["runs.db"]  # not even SQLite's -wal/-shm files
    # A real process, where logging has no handler of its own: still said once, not twice.
    r = subprocess.run([sys.executable, "-m", "core", "runs", "list", "--store", str(db)], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and key[:12] in r.stdout and r.stderr == said + "\n", r.stderr


@pytest.mark.parametrize("what", ["folder", "file"])
def test_cli_run_on_a_read_only_store_serves_or_trains_without_keeping(tmp_path, read_only, capsys,
                                                                        count_trainings, what) -> None:
    from core.cli import main

    db = tmp_path / "ro" / "runs.db"
    assert main(["run", *TINY, "--store", str(db)]) == 0  # trained and kept while it was writable
    first = capsys.readouterr()
    read_only(db.parent if what == "folder" else db)
    said = f"warning: the run store {db} is read-only: stored runs are served, new ones are not kept"
    assert main(["run", *TINY, "--store", str(db)]) == 0
    served = capsys.readouterr()
    assert len(count_trainings) == 1 and served.out == first.out
    assert served.err.splitlines()[0] == said and "served from the run store" in served.err
    assert main(["run", *TINY, "--seed", "7", "--store", str(db)]) == 0  # new: trained, not kept
    fresh = capsys.readouterr()
    assert len(count_trainings) == 2 and "val acc" in fresh.out
    assert fresh.err.strip().splitlines() == [said] and "Traceback" not in fresh.err
    assert len(RunStore(db).list()) == 1


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
    assert runs_main([*argv, "--store", str(tmp_path / "runs.db")]) == 2
    assert says in _one_line(capsys)


def test_show_of_a_missing_key_is_one_line_exit_2(evil_store, capsys):
    db, _ = evil_store
    for key in ("ffff", "nope", "a\x1b[2Jb", "z" * 30_000):
        assert runs_main(["show", key, "--store", str(db)]) == 2
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
        assert runs_main([*argv, "--store", str(target)]) == 2
        assert _one_line(capsys).startswith(f"error: store {target}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]  # nothing moved aside or created


@pytest.mark.parametrize("opt", ["--json", "--csv"])
def test_export_to_an_unusable_path_is_one_line_exit_2_and_writes_nothing(evil_store, tmp_path, capsys, opt):
    db, key = evil_store
    folder = tmp_path / "out"
    folder.mkdir()
    assert runs_main(["export", key[:8], opt, str(folder), "--store", str(db)]) == 2
    assert _one_line(capsys) == f"error: cannot write {folder}: it is a folder; give a file path"
    assert runs_main(["export", key[:8], opt, str(tmp_path / "no" / "x"), "--store", str(db)]) == 2
    assert "does not exist" in _one_line(capsys)
    assert list(folder.iterdir()) == []


def test_list_and_show_print_stored_text_inert(evil_store, capsys):
    db, key = evil_store
    assert runs_main(["list", "--store", str(db)]) == 0
    listed = capsys.readouterr().out
    assert runs_main(["show", key[:6], "--store", str(db)]) == 0
    shown = capsys.readouterr().out
    for out in (listed, shown):
        assert not any(c in out for c in "\x1b\x07\x9b\u202e"), out
        assert "x\\x1b[2J\\x1b]0;owned\\x07\\x9b31m\\u202eevil\\x0ay" in out
    assert len(listed.splitlines()) == 2  # header + one row: a newline in a title adds no line


def test_csv_export_makes_formula_cells_inert_and_keeps_numbers(evil_store, tmp_path):
    db, key = evil_store
    out = tmp_path / "e.csv"
    assert runs_main(["export", key[:8], "--csv", str(out), "--store", str(db)]) == 0
    back = pd.read_csv(out)
    frame = Experiment.from_dict(RunStore(db).get(key)).to_frame()
    assert set(back["variant"]) == {"'" + frame["variant"][0]}
    assert (back["train_loss"] < 0).any() and np.allclose(back["train_loss"], frame["train_loss"])


def test_python_m_core_runs_list_with_a_huge_limit_is_one_line(evil_store):
    db, _ = evil_store
    r = subprocess.run([sys.executable, "-m", "core", "runs", "list", "--limit", "9" * 23, "--store", str(db)],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and r.stderr.startswith("error: argument --limit")
