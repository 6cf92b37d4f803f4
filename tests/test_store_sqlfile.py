"""core.store.sqlfile and how RunStore opens a file: only our own file is ever written or
replaced (anything else is refused untouched), an older store is brought up to date, a newer
one left alone, and a store that cannot be written is served read-only.

Issue 15's store reproductions are tested here, in test_store_salvage.py (damage),
test_store.py (deleted or replaced while in use, warnings, the size cap), test_store_claims.py
(several processes), test_runs_cli.py (the CLI) and test_dashboard_hosting.py (the page)."""
from __future__ import annotations

import random
import sqlite3
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.store import NotAStore, RunStore, StoreError
from core.store import sqlfile as F


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "store" / "runs.db"


def _siblings(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p != path)


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


def _sqlite(path: Path, *statements: str) -> None:
    """A SQLite file at `path` made by running `statements` (as another program would)."""
    con = sqlite3.connect(path)
    for sql in statements:
        con.execute(sql)
    con.commit()
    con.close()


def _sqlite_of_another_program(path: Path) -> None:
    _sqlite(path, "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)", "INSERT INTO notes (text) VALUES ('keep me')")


def _foreign_runs_table(path: Path) -> None:
    _sqlite(path, "CREATE TABLE runs (id INTEGER, blob BLOB)")


def _other_application_id(path: Path) -> None:
    _sqlite(path, "PRAGMA application_id = 1234", "CREATE TABLE t (x)")


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
    _sqlite(db, "PRAGMA user_version = 99")
    before = db.read_bytes()
    with pytest.raises(StoreError, match=r"newer version of the lab \(schema 99"):
        RunStore(db)
    assert db.read_bytes() == before


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
