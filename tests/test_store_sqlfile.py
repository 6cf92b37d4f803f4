"""core.store.sqlfile and how RunStore uses it: only our own file is ever written or replaced;
a damaged store is salvaged; a store deleted or replaced while in use is opened again; a
read-only store is served. Every reproduction of issue 15's store paragraph has its test here
or in test_store.py (the CLI) and test_dashboard_hosting.py (the page)."""
from __future__ import annotations

import json
import os
import random
import sqlite3
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.store import NotAStore, RunStore, StoreError
from core.store import sqlfile as F

PAGE = 4096


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store" / "runs.db"


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p != path)


def _doc(i: int, kb: int = 3) -> dict:
    return {"i": i, "blob": random.Random(i).randbytes(kb * 1024).hex()}


def _filled(path: Path, n: int, big: int | None = None) -> dict[str, dict]:
    """A store of n runs of about 3 KB (run `big`: 60 KB, on overflow pages of its own),
    checkpointed so that the main file holds everything."""
    RunStore(path)
    docs = {f"k{i:03d}": _doc(i, 60 if i == big else 3) for i in range(n)}
    con = sqlite3.connect(path)  # one transaction: put() per run is tested elsewhere, and slower
    rows = [(k, 1000.0 + i, json.dumps({"title": k}), F.encode(d), len(F.encode(d)), 1000.0 + i)
            for i, (k, d) in enumerate(docs.items())]
    con.executemany("INSERT INTO runs (key, created, summary, doc, bytes, accessed) VALUES (?,?,?,?,?,?)", rows)
    con.commit()
    con.close()
    _checkpoint(path)
    return docs


def _checkpoint(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()


def _damage(path: Path, page: int, seed: int = 0) -> bytes:
    data = bytearray(path.read_bytes())
    data[(page - 1) * PAGE:page * PAGE] = random.Random(seed).randbytes(PAGE)
    path.write_bytes(bytes(data))
    return bytes(data)


def _pages(path: Path, kind: str) -> list[int]:
    con = sqlite3.connect(path)
    try:
        return [r[0] for r in con.execute("SELECT pageno FROM dbstat WHERE name = 'runs' AND pagetype = ? "
                                          "ORDER BY pageno", (kind,))]
    finally:
        con.close()


# --- ours, or hands off -------------------------------------------------------------------

def test_a_new_store_carries_our_application_id_and_schema_version(db: Path) -> None:
    RunStore(db)
    head = db.read_bytes()[:100]
    assert head[:16] == F.MAGIC and int.from_bytes(head[68:72], "big") == F.APP_ID  # in the main file
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA application_id").fetchone()[0] == F.APP_ID == 0x524C4142
    assert con.execute("PRAGMA user_version").fetchone()[0] == F.SCHEMA_VERSION == 1
    con.close()
    assert F.identify(db) == "ours"


def _sqlite_of_another_program(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    con.execute("INSERT INTO notes (text) VALUES ('keep me')")
    con.commit()
    con.close()


def _foreign_runs_table(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE runs (id INTEGER, blob BLOB)")
    con.commit()
    con.close()


def _other_application_id(path: Path) -> None:
    con = sqlite3.connect(path)
    con.execute("PRAGMA application_id = 1234")
    con.execute("CREATE TABLE t (x)")
    con.commit()
    con.close()


FOREIGN = {
    "text": (lambda p: p.write_text("lab-host\n"), "it is not a SQLite file"),
    "random": (lambda p: p.write_bytes(random.Random(1).randbytes(10_000)), "it is not a SQLite file"),
    "header only": (lambda p: p.write_bytes(F.MAGIC + b"\x10\x00"), "too short"),
    "another program": (_sqlite_of_another_program, "another program, tables notes"),
    "a foreign runs table": (_foreign_runs_table, "another program, tables runs"),
    "another application id": (_other_application_id, "application_id 0x4d2"),
}


@pytest.mark.parametrize("kind", list(FOREIGN))
def test_any_other_file_is_refused_untouched(db: Path, kind: str) -> None:
    make, reason = FOREIGN[kind]
    db.parent.mkdir(parents=True)
    make(db)
    before, stat = db.read_bytes(), db.stat()
    with pytest.raises(NotAStore) as e:
        RunStore(db)
    assert str(e.value).startswith(f"store {db}: not a run store (") and reason in str(e.value)
    assert str(e.value).endswith("; nothing was changed") and "\n" not in str(e.value)
    assert isinstance(e.value, OSError)  # callers that survive an unusable file survive this
    assert db.read_bytes() == before and db.stat().st_mtime_ns == stat.st_mtime_ns
    assert _siblings(db) == []  # nothing renamed, no -wal/-shm/-journal created beside it


@pytest.mark.parametrize("path", ["folder", "/dev/null"])
def test_a_folder_or_a_device_is_not_a_store(tmp_path: Path, path: str) -> None:
    target = tmp_path if path == "folder" else Path(path)
    with pytest.raises(NotAStore, match="it is a folder" if path == "folder" else "not a regular file"):
        RunStore(target)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(min_size=1, max_size=300), sqlite_header=st.booleans())
def test_property_no_foreign_bytes_are_ever_changed(tmp_path: Path, data: bytes, sqlite_header: bool) -> None:
    """Whatever a file holds, if it does not carry our id, opening it either refuses it (bytes,
    folder unchanged) or, only for an empty SQLite file, makes a store of it."""
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / "runs.db"
    payload = (F.MAGIC + data) if sqlite_header else data
    if payload[68:72] == F.APP_ID.to_bytes(4, "big"):
        return  # claims to be ours: out of this property's scope
    path.write_bytes(payload)
    try:
        RunStore(path)
    except NotAStore:
        assert path.read_bytes() == payload and _siblings(path) == []
    else:
        assert F.identify(path) == "ours"  # it was an empty SQLite database: nothing in it was lost


def test_an_empty_file_becomes_a_store(db: Path) -> None:
    db.parent.mkdir(parents=True)
    db.write_bytes(b"")
    events: list[str] = []
    s = RunStore(db, events=events)
    assert events == [] and _siblings(db) == []
    s.put("k", {"a": 1}, {"t": 1})
    assert s.get("k") == {"a": 1} and F.identify(db) == "ours"


def test_a_store_made_before_the_id_is_recognised_and_brought_up_to_date(db: Path) -> None:
    """A store written by the previous version: no application id, exactly its runs table."""
    db.parent.mkdir(parents=True)
    con = sqlite3.connect(db)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE runs (key TEXT PRIMARY KEY, created REAL NOT NULL, summary TEXT NOT NULL, "
                "doc BLOB NOT NULL, bytes INTEGER NOT NULL)")
    con.execute("CREATE INDEX runs_created ON runs (created)")
    blob = F.encode({"old": True})
    con.execute("INSERT INTO runs VALUES ('old', 123.0, '{\"title\": \"old run\"}', ?, ?)", (blob, len(blob)))
    con.commit()
    con.close()
    assert F.identify(db) == "v0"
    s = RunStore(db)
    assert F.identify(db) == "ours"  # the id is in the main file now, not only in the WAL
    con = sqlite3.connect(db)
    assert con.execute("SELECT accessed FROM runs").fetchone()[0] == 123.0  # last use: its put
    assert con.execute("PRAGMA user_version").fetchone()[0] == F.SCHEMA_VERSION
    con.close()
    assert s.get("old") == {"old": True} and s.list()[0]["title"] == "old run"
    assert s.try_claim("old", "me", 30)  # the claims table is there too


def test_a_store_from_a_newer_version_is_left_alone(db: Path) -> None:
    RunStore(db).put("k", {"a": 1}, {})
    con = sqlite3.connect(db)
    con.execute("PRAGMA user_version = 99")
    con.commit()
    con.close()
    before = db.read_bytes()
    with pytest.raises(StoreError, match=r"newer version of the lab \(schema 99"):
        RunStore(db)
    assert db.read_bytes() == before


# --- damage salvages ----------------------------------------------------------------------

def test_one_damaged_page_loses_one_run_of_363_with_one_short_warning(db: Path) -> None:
    """The reproduction: one damaged 4 KB page set all 363 runs aside with a 202-line warning."""
    docs = _filled(db, 363, big=100)
    overflow = _pages(db, "overflow")  # all of them hold run k100's document
    damaged = _damage(db, overflow[len(overflow) // 2])
    events: list[str] = []
    s = RunStore(db, events=events)
    [aside] = [p for p in db.parent.iterdir() if p.name.startswith("runs.db.corrupt-") and p.suffix == ".db"
               or p.name.startswith("runs.db.corrupt-") and not p.name.endswith(("-wal", "-shm"))]
    assert events == [f"the run store {db} was damaged: kept 362 of 363 runs in a fresh file; "
                      f"the damaged one is kept as {aside.name}"]
    assert aside.read_bytes() == damaged  # the damaged original, as it was found
    assert {r["key"] for r in s.list(limit=1000)} == set(docs) - {"k100"}
    assert all(s.get(k) == d for k, d in docs.items() if k != "k100")
    s.put("after", {"a": 1}, {})
    assert RunStore(db).get("after") == {"a": 1} and F.identify(db) == "ours"


def test_a_damaged_leaf_page_loses_only_the_runs_on_it(db: Path) -> None:
    docs = _filled(db, 120)
    leaves = _pages(db, "leaf")
    _damage(db, leaves[len(leaves) // 2])
    events: list[str] = []
    s = RunStore(db, events=events)
    kept = {r["key"] for r in s.list(limit=1000)}
    assert len(events) == 1 and f"kept {len(kept)} of " in events[0]
    assert len(kept) >= len(docs) - 2  # one leaf holds one or two of these runs
    assert all(s.get(k) == docs[k] for k in kept)


@pytest.mark.parametrize("cut", ["first-page", "half"])
def test_a_truncated_store_is_salvaged(db: Path, cut: str) -> None:
    docs = _filled(db, 40)
    data = db.read_bytes()
    db.write_bytes(data[:100] if cut == "first-page" else data[: len(data) // 2])
    Path(f"{db}-wal").write_bytes(os.urandom(500))  # a stale WAL must not leak into the new store
    events: list[str] = []
    s = RunStore(db, events=events)
    assert len(events) == 1 and "was damaged: kept" in events[0]
    kept = s.list(limit=1000)
    assert all(s.get(r["key"]) == docs[r["key"]] for r in kept)
    assert len(kept) == 0 if cut == "first-page" else 0 < len(kept) < 40


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(page_pick=st.floats(0, 1, exclude_max=True), seed=st.integers(0, 2**16))
def test_property_any_damaged_page_salvages_what_it_can(tmp_path: Path, page_pick: float, seed: int) -> None:
    """Damage any page but the first (which says whose the file is): opening never raises,
    says one short line, keeps the damaged file as it was, and every run it keeps is intact."""
    path = Path(tempfile.mkdtemp(dir=tmp_path)) / "runs.db"
    docs = _filled(path, 60, big=7)
    pages = path.stat().st_size // PAGE
    page = 2 + int(page_pick * (pages - 1))
    damaged = _damage(path, page, seed)
    events: list[str] = []
    s = RunStore(path, events=events)
    kept = {r["key"] for r in s.list(limit=1000)}
    assert all(s.get(k) == docs[k] for k in kept) and kept <= set(docs)
    assert len(events) <= 1 and all(len(e.replace(str(path), "")) < 150 for e in events)
    if events:  # damage that quick_check saw: salvaged, the original kept as found
        asides = [p for p in path.parent.iterdir() if ".corrupt-" in p.name and not p.name.endswith(("-wal", "-shm"))]
        assert len(asides) == 1 and asides[0].read_bytes() == damaged
        assert f"kept {len(kept)} of " in events[0]


def test_damage_found_while_serving_is_salvaged_for_the_caller_that_met_it(db: Path) -> None:
    docs = _filled(db, 50, big=20)
    s = RunStore(db)  # opened while sound
    _damage(db, _pages(db, "overflow")[2])
    mine: list[str] = []
    assert s.get("k020", mine) is None  # the damaged run
    assert len(mine) == 1 and "kept 49 of 50 runs" in mine[0]
    others: list[str] = []
    assert s.get("k021", others) == docs["k021"] and others == []


def test_threads_opening_one_damaged_store_salvage_it_once(db: Path) -> None:
    _filled(db, 30, big=3)
    _damage(db, _pages(db, "overflow")[1])
    said: list[list[str]] = [[] for _ in range(4)]
    go = threading.Barrier(4)

    def open_it(i: int) -> None:
        go.wait()
        RunStore(db, events=said[i])

    threads = [threading.Thread(target=open_it, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    asides = [p for p in db.parent.iterdir() if ".corrupt-" in p.name and not p.name.endswith(("-wal", "-shm"))]
    assert len(asides) == 1 and sum(len(e) for e in said) == 1  # never a fresh store set aside
    assert len(RunStore(db).list(limit=100)) == 29


# --- deleted or replaced while in use -----------------------------------------------------

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


# --- read-only ----------------------------------------------------------------------------

@pytest.mark.parametrize("what", ["folder", "file"])
def test_a_read_only_store_serves_its_runs_and_keeps_nothing(db: Path, read_only, what: str) -> None:
    RunStore(db).put("k", {"a": 1}, {"title": "kept before"})
    read_only(db.parent if what == "folder" else db)
    events: list[str] = []
    s = RunStore(db, events=events)
    said = f"the run store {db} is read-only: stored runs are served, new ones are not kept"
    assert events == [said] and s.condition == said and s.read_only
    calls: list[str] = []
    assert s.get("k", calls) == {"a": 1} and [r["title"] for r in s.list(events=calls)] == ["kept before"]
    assert s.put("new", {"b": 2}, {}, calls) is False and s.delete("k", calls) is False
    assert calls == []  # said once, at opening
    assert s.try_claim("new", "me", 30) and s.claim_holder("new") is None  # nothing to share, nothing written
    if what == "folder":
        assert _siblings(db) == []


def test_a_store_that_cannot_be_created_is_one_error(tmp_path: Path, read_only) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    read_only(folder)
    with pytest.raises(StoreError, match=f"^store {folder / 'runs.db'}: cannot be created"):
        RunStore(folder / "runs.db")
