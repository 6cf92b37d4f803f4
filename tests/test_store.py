"""The run store and `python -m core runs`: durability, corruption, threads, CLI."""
from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core import store as store_mod
from core.config import Config
from core.results import Experiment, RunResult
from core.runs_cli import main as runs_main
from core.store import RunStore, experiment_key

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store" / "runs.db"


def _doc(i: int, n: int = 50) -> dict:
    return {"i": i, "values": [i + k / 7 for k in range(n)], "nested": {"nan": None, "s": "é"}}


# --- basics -----------------------------------------------------------------------------

def test_put_get_roundtrip_and_blob_is_zlib_json(db: Path) -> None:
    s = RunStore(db)
    assert s.path == db and db.exists() and s.warnings == []
    s.put("k1", _doc(1), {"title": "one", "status": "ok", "seconds": 1.5})
    assert s.get("k1") == _doc(1)
    assert s.get("missing") is None
    # The BLOB is zlib-compressed JSON (not pickle), readable without this module.
    con = sqlite3.connect(db)
    blob, summ = con.execute("SELECT doc, summary FROM runs WHERE key='k1'").fetchone()
    con.close()
    assert json.loads(zlib.decompress(blob)) == _doc(1)
    assert json.loads(summ) == {"title": "one", "status": "ok", "seconds": 1.5}


def test_replace_list_order_limit_delete(db: Path) -> None:
    s = RunStore(db)
    for i in range(5):
        s.put(f"k{i}", _doc(i), {"title": f"t{i}", "status": "ok", "key": "not-mine"})
    s.put("k1", _doc(99), {"title": "replaced"})  # same key again = replace, and now newest
    assert s.get("k1") == _doc(99)
    rows = s.list()
    assert [r["key"] for r in rows] == ["k1", "k4", "k3", "k2", "k0"]
    assert rows[0]["title"] == "replaced" and "status" not in rows[0]
    assert rows[1]["title"] == "t4" and rows[1]["key"] == "k4"  # our "key" wins over the summary's
    assert all(isinstance(r["created"], float) and r["created_iso"].endswith("+00:00") for r in rows)
    assert rows[0]["created"] >= rows[1]["created"]
    assert all(r["bytes"] > 0 for r in rows)
    assert [r["key"] for r in s.list(limit=2)] == ["k1", "k4"]
    assert s.summary("k4")["title"] == "t4" and s.summary("nope") is None
    assert s.delete("k3") is True
    assert s.delete("k3") is False
    assert s.get("k3") is None and len(s.list()) == 4


def test_wal_and_synchronous(db: Path) -> None:
    s = RunStore(db)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent, in the file
    con.close()
    with s._connect() as con:
        assert con.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert con.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000


def test_default_path_and_env_var(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELU_LAB_STORE", raising=False)
    assert store_mod.default_path() == REPO / ".data" / "runs.db"  # not opened: never touch the real store
    target = tmp_path / "a" / "b" / "mine.db"
    monkeypatch.setenv("RELU_LAB_STORE", str(target))
    s = RunStore()
    assert s.path == target and target.exists()  # parent dirs created


def test_experiment_key() -> None:
    a, b = {"lr": 0.01, "depth": 2}, {"depth": 2, "lr": 0.01}
    k = experiment_key([a], "v1")
    assert len(k) == 32 and int(k, 16) >= 0
    assert experiment_key([b], "v1") == k  # dict order does not matter
    assert experiment_key([a], "v2") != k
    assert experiment_key([a], "v1", {"x": 1}) != k
    assert experiment_key([a, {"lr": 0.1}], "v1") != experiment_key([{"lr": 0.1}, a], "v1")
    import hashlib
    blob = json.dumps({"configs": [a], "engine": "v1", "extra": None}, sort_keys=True, separators=(",", ":"))
    assert k == hashlib.sha256(blob.encode()).hexdigest()[:32]
    cfg = Config(epochs=3)
    assert experiment_key([cfg], "v1") == experiment_key([cfg.to_dict()], "v1")


def test_summarize(tiny_experiment) -> None:
    exp = tiny_experiment
    s = store_mod.summarize(exp)
    assert s["variants"] == ["ReLU", "dropout"] and s["title"] == "tiny" and s["status"] == "ok"
    for r in exp.runs:  # each variant's final validation accuracy, averaged over seeds, by hand
        finals = [r.metrics["val_acc"][i, r.epochs_done - 1] for i in range(len(r.seeds))]
        assert s["val_acc"][r.name] == round(sum(finals) / len(finals), 4)
    never = RunResult.empty(Config(epochs=2), "never started", layers=2)
    assert store_mod.summarize(Experiment(Config(epochs=2), [never]))["val_acc"] == {"never started": None}
    assert "stopped" not in store_mod.STORABLE and set(store_mod.STORABLE) == {"ok", "diverged"}


# --- corruption -------------------------------------------------------------------------

def _valid_store_bytes(tmp_path: Path) -> bytes:
    p = tmp_path / "src.db"
    s = RunStore(p)
    for i in range(30):
        s.put(f"k{i}", {"x": os.urandom(2000).hex()}, {"i": i})
    con = sqlite3.connect(p)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return p.read_bytes()


@pytest.mark.parametrize("kind", ["random", "header-only", "truncated-first-page", "truncated-half"])
def test_corrupt_file_is_moved_aside(tmp_path: Path, db: Path, kind: str) -> None:
    good = _valid_store_bytes(tmp_path)
    data = {"random": os.urandom(10_000), "header-only": b"SQLite format 3\x00" + os.urandom(20),
            "truncated-first-page": good[:100], "truncated-half": good[: len(good) // 2]}[kind]
    db.parent.mkdir(parents=True)
    db.write_bytes(data)
    Path(str(db) + "-wal").write_bytes(os.urandom(500))  # a stale WAL must not leak into the new store
    s = RunStore(db)
    aside = [p for p in db.parent.iterdir() if p.name.startswith("runs.db.corrupt-") and not p.name.endswith("-wal")]
    assert len(aside) == 1 and aside[0].read_bytes() == data  # kept, byte for byte
    assert len(s.warnings) == 1 and aside[0].name in s.warnings[0]
    # A fresh, working store in its place.
    assert s.list() == []
    s.put("k", {"a": 1}, {})
    assert RunStore(db).get("k") == {"a": 1}


def test_zero_length_file_is_not_corrupt(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")
    s = RunStore(db)
    assert s.warnings == [] and not [p for p in db.parent.iterdir() if "corrupt" in p.name]
    s.put("k", {"a": 1}, {"t": 1})
    assert s.get("k") == {"a": 1}


def test_foreign_runs_table_is_moved_aside(db: Path) -> None:
    db.parent.mkdir(parents=True)
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE runs (id INTEGER, blob BLOB)")
    con.commit()
    con.close()
    s = RunStore(db)
    assert len(s.warnings) == 1 and "corrupt-" in s.warnings[0]
    s.put("k", {"a": 1}, {})
    assert s.get("k") == {"a": 1}


def test_locked_store_is_not_treated_as_corrupt(db: Path) -> None:
    RunStore(db).put("k", {"a": 1}, {})
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")  # another writer holds the lock
    try:
        s = RunStore(db)  # readers are not blocked in WAL mode
        assert s.warnings == [] and s.get("k") == {"a": 1}
    finally:
        con.execute("ROLLBACK")
        con.close()
    assert not [p for p in db.parent.iterdir() if "corrupt" in p.name]


def test_undecodable_rows_are_skipped_with_warning(db: Path) -> None:
    s = RunStore(db)
    for k in ("good", "badblob", "notjson", "notdict", "badsummary"):
        s.put(k, {"k": k}, {"title": k})
    con = sqlite3.connect(db)
    con.execute("UPDATE runs SET doc = ? WHERE key = 'badblob'", (os.urandom(64),))
    con.execute("UPDATE runs SET doc = ? WHERE key = 'notjson'", (zlib.compress(b"{nope"),))
    con.execute("UPDATE runs SET doc = ? WHERE key = 'notdict'", (zlib.compress(b"[1, 2]"),))
    con.execute("UPDATE runs SET summary = '{broken' WHERE key = 'badsummary'")
    con.commit()
    con.close()
    for k in ("badblob", "notjson", "notdict"):
        assert s.get(k) is None
    assert s.get("good") == {"k": "good"} and s.get("badsummary") == {"k": "badsummary"}
    keys = [r["key"] for r in s.list()]
    assert "badsummary" not in keys and set(keys) == {"good", "badblob", "notjson", "notdict"}
    assert len(s.warnings) == 4 and all(any(k in w for w in s.warnings)
                                        for k in ("badblob", "notjson", "notdict", "badsummary"))
    s.get("badblob")
    s.list()
    assert len(s.warnings) == 4  # repeated reads do not pile up copies
    # An undecodable run is repaired by storing it again.
    s.put("badblob", {"fixed": True}, {"title": "again"})
    assert s.get("badblob") == {"fixed": True}


# --- kill -9 ----------------------------------------------------------------------------

_WRITER = textwrap.dedent("""
    import random, sys
    from core.store import RunStore
    store, tag = RunStore(sys.argv[1]), sys.argv[2]
    rng = random.Random(tag)
    i = 0
    while True:
        key = f"{tag}-{i}"
        vals = [rng.random() for _ in range(20_000)]          # ~400 KB of JSON, ~180 KB compressed
        store.put(key, {"key": key, "values": vals, "total": sum(vals)}, {"title": key, "n": len(vals)})
        print("+", key, flush=True)                           # committed: must survive from now on
        if i % 5 == 4:                                         # replaces and deletes in the mix too
            store.put(f"{tag}-0", {"key": f"{tag}-0", "values": [], "total": 0}, {"title": "replaced", "n": 0})
            print("-", f"{tag}-{i - 2}", flush=True)           # announced before: may be gone from now on
            store.delete(f"{tag}-{i - 2}")
        i += 1
""")


def _check_doc(doc: dict | None, key: str) -> None:
    assert doc is not None, key
    assert doc["key"] == key and len(doc["values"]) in (0, 20_000)
    assert abs(sum(doc["values"]) - doc["total"]) < 1e-6


def test_kill_9_during_writes_keeps_committed_runs(db: Path) -> None:
    RunStore(db)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    rng = random.Random(1234)
    committed: set[str] = set()  # keys the child printed after their put() returned
    deleted: set[str] = set()  # keys the child announced it was about to delete
    for round_ in range(5):
        tag = f"r{round_}"
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(db), tag], cwd=REPO, env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        writing = threading.Event()  # set once 4 writes are committed, or the child is gone

        def read(p=proc, out=lines, ev=writing) -> None:
            for line in p.stdout:
                out.append(line)
                if len(out) >= 4:
                    ev.set()
            ev.set()

        reader = threading.Thread(target=read)
        reader.start()
        writing.wait(60)
        # A random moment, almost always mid-write; nothing depends on how long it is.
        time.sleep(rng.uniform(0.0, 0.4))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        reader.join(timeout=10)
        assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
        assert len(lines) >= 4, proc.stderr.read()
        complete = [line.split() for line in lines if line.endswith("\n")]  # not a line cut by the kill
        assert all(len(w) == 2 and w[0] in "+-" for w in complete), lines
        for op, key in complete:
            (committed if op == "+" else deleted).add(key)
        # Reopen after each kill: the file is intact and every committed run is readable.
        s = RunStore(db)
        assert s.warnings == []
        con = sqlite3.connect(db)
        assert con.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        con.close()
        listed = s.list(limit=100_000)
        for row in listed:  # every listed run decodes
            _check_doc(s.get(row["key"]), row["key"])
        for key in committed:
            if key not in deleted:
                _check_doc(s.get(key), key)
        assert {r["key"] for r in listed} >= set(committed) - deleted


# --- threads ----------------------------------------------------------------------------

def _run_threads(n: int, target) -> list:
    results: list = [None] * n
    errors: list = []
    start = threading.Barrier(n)

    def wrap(i: int) -> None:
        start.wait()
        try:
            results[i] = target(i)
        except BaseException as e:  # noqa: B036 - collected and asserted on below
            errors.append(e)
            results[i] = e

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads), "a thread hangs"
    return results


def test_store_flag_is_not_part_of_the_summary(db: Path) -> None:
    s = RunStore(db)
    s.put("k", {"full": True}, {"store": True, "title": "t"})
    assert s.list()[0]["title"] == "t" and "store" not in s.list()[0]


def test_many_threads_read_and_write_without_errors(db: Path) -> None:
    s = RunStore(db)  # created in this thread, used from all the others

    def work(i: int) -> int:
        for j in range(10):
            s.put(f"t{i}-{j}", _doc(j, 2000), {"title": f"{i}-{j}"})
            assert s.get(f"t{i}-{j}") == _doc(j, 2000)
            s.list(limit=5)
        return i

    assert _run_threads(8, work) == list(range(8))
    assert len(s.list(limit=1000)) == 80 and s.warnings == []


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


def test_engine_version_is_the_package_version():
    # core.__version__ is part of every stored run's key; the package metadata must not drift from it.
    import tomllib
    from pathlib import Path

    import core
    meta = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert meta["project"]["version"] == core.__version__
