"""What only the SQLite run store (core.store.RunStore) has: its journal, a locked file, the size
cap against a model, a store deleted or replaced while in use, durability under kill -9.
What every backend shares (runs, warnings that belong to their caller, the size cap, threads,
claims) is test_store_contract.py's, run on SQLite and on PostgreSQL.

Recognising the file and read-only stores: test_store_sqlfile.py; damage: test_store_salvage.py;
claims: test_store_claims.py; keys and summaries: test_store_keys.py; the CLI: test_runs_cli.py."""
from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.store import RunStore
from core.store import sqlfile as F

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store" / "runs.db"


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p != path)


def _checkpoint(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def _doc(i: int, n: int = 50) -> dict:
    return {"i": i, "values": [i + k / 7 for k in range(n)], "nested": {"nan": None, "s": "é"}}


class FakeClock:
    def __init__(self, t: float = 1_000_000.0):
        self.t = t

    def __call__(self) -> float:
        return self.t


# --- basics -----------------------------------------------------------------------------

def test_wal_and_synchronous(db: Path) -> None:
    s = RunStore(db)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent, in the file
    con.close()
    with s._connect() as con:
        assert con.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert con.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000


def test_locked_store_is_not_treated_as_corrupt(db: Path) -> None:
    RunStore(db).put("k", {"a": 1}, {})
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("BEGIN EXCLUSIVE")  # another writer holds the lock
    try:
        events: list[str] = []
        s = RunStore(db, events=events)  # readers are not blocked in WAL mode
        assert events == [] and s.get("k") == {"a": 1} and not s.read_only
    finally:
        con.execute("ROLLBACK")
        con.close()
    assert not [p for p in db.parent.iterdir() if "corrupt" in p.name]


# --- the size cap -------------------------------------------------------------------------

def _sized(i: int, kb: int = 100) -> dict:
    return {"i": i, "blob": random.Random(i).randbytes(kb * 1024).hex()}  # incompressible enough


@settings(max_examples=25, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(["put", "get"]), st.integers(0, 7), st.integers(1, 250)),
                    min_size=1, max_size=30))
def test_size_cap_property(tmp_path_factory, ops) -> None:
    """Whatever the puts and gets: the stored documents always fit under the cap; a run bigger
    than the cap is refused whole (nothing evicted for it); a run that fits is kept; and every
    run still stored was used (put or get) more recently than every run evicted."""
    cap = 100 * 1024
    clock = FakeClock()
    s = RunStore(tmp_path_factory.mktemp("cap") / "runs.db", max_mb=cap / 2**20, clock=clock)
    used: dict[str, float] = {}  # the model: key -> last put or get
    for op, i, kb in ops:
        clock.t += 61  # past the one-minute grain of access times
        key = f"k{i}"
        if op == "get":
            if s.get(key) is not None:
                used[key] = clock.t
            continue
        before = {r["key"] for r in s.list(limit=1000)}
        kept = s.put(key, {"blob": random.Random(kb).randbytes(kb * 1024).hex()[: kb * 1024]}, {})
        stored = {r["key"]: r["bytes"] for r in s.list(limit=1000)}
        assert sum(stored.values()) <= cap
        if not kept:
            assert set(stored) == before
            continue
        assert key in stored
        used[key] = clock.t
        evicted = set(used) - set(stored)
        if evicted:
            assert max(used[k] for k in evicted) < min(used[k] for k in stored)
        for k in evicted:
            del used[k]
        assert set(used) == set(stored)
# --- deleted or replaced while in use ----------------------------------------------------

def test_a_store_deleted_while_in_use_is_started_afresh_and_said_once(db: Path) -> None:
    """The reproduction: a store deleted while the server ran failed every new experiment
    with "no such table" until a restart."""
    s = RunStore(db)
    s.put("k", {"a": 1}, {})
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    first: list[str] = []
    assert s.get("k", first) is None
    assert first == [f"the run store {db} was deleted while in use; a fresh one was started"]
    later: list[str] = []
    assert s.put("k2", {"b": 2}, {}, later) is True and s.get("k2", later) == {"b": 2} and later == []
    assert F.identify(db) == "ours"


def test_a_store_deleted_under_the_server_keeps_serving_the_page_path(tmp_path: Path) -> None:
    """The same through the page's path (run_guarded): every new experiment used to fail with
    "no such table" until a restart; now it trains and is kept in a fresh store."""
    from core.config import validate
    from core.serve import Limits, run_guarded

    s = RunStore(tmp_path / "runs.db")
    base = validate(n_samples=60, epochs=1, seeds=1, width=4, batch_size=30)
    run_guarded(base, limits=Limits(), store=s)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{s.path}{suffix}").unlink(missing_ok=True)
    exp, from_store, _ = run_guarded(base.replace(seed=1), limits=Limits(), store=s)
    assert exp.status == "ok" and not from_store and len(s.list()) == 1
    assert run_guarded(base.replace(seed=1), limits=Limits(), store=s)[1] is True  # kept, served


def test_a_store_replaced_by_another_store_is_used_quietly(db: Path, tmp_path: Path) -> None:
    s = RunStore(db)
    s.put("old", {"a": 1}, {})
    other = tmp_path / "backup.db"
    RunStore(other).put("restored", {"b": 2}, {})
    _checkpoint(other)
    os.replace(other, db)
    events: list[str] = []
    assert s.get("restored", events) == {"b": 2} and s.get("old", events) is None and events == []


def test_random_bytes_over_a_store_in_use_are_reported_once_and_never_moved(db: Path) -> None:
    """The reproduction: random bytes over the store were not moved aside again and every run
    was retrained and not stored, silently. Now: said once, the file left alone, and a store
    again as soon as it is removed."""
    s = RunStore(db)
    s.put("k", {"a": 1}, {})
    _checkpoint(db)
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    garbage = random.Random(3).randbytes(20_000)
    db.write_bytes(garbage)  # in place: the same file, other bytes
    first: list[str] = []
    assert s.get("k", first) is None
    assert first == [f"store {db}: not a run store (it is not a SQLite file); nothing was changed; "
                     "runs are not kept until it is fixed"]
    assert s.condition == first[0] and s.read_only
    later: list[str] = []
    assert s.put("k2", {"b": 2}, {}, later) is False and s.list(events=later) == [] and later == []
    assert db.read_bytes() == garbage and _siblings(db) == []
    db.unlink()
    again: list[str] = []
    assert s.put("k3", {"c": 3}, {}, again) is True and s.get("k3") == {"c": 3}
    assert len(again) == 1 and "fresh one was started" in again[0] and s.condition is None


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
        events: list[str] = []
        s = RunStore(db, events=events)
        assert events == []
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
