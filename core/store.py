"""The run store: every finished experiment, kept in one SQLite file.

Identical requests are served from here instead of being trained again, and the page lists
and reopens old runs. Documents are zlib-compressed JSON in a BLOB (never pickle: a store
file must not be able to run code when it is opened); summaries are small JSON objects.

Durability: WAL journal with synchronous=NORMAL. A commit has been written to the WAL file
(in the OS page cache) before `put` returns, so it survives the process being killed at any
moment (kill -9, a crashed Streamlit worker); an interrupted write is rolled back on the next
open. Only a power cut / OS crash can lose the last few commits (never corrupt the file);
surviving that is all FULL's fsync per commit would add, and power loss is not our concern.

Threads: a connection is opened per operation (about half a millisecond), so no connection
is ever shared between threads (no `check_same_thread` errors under Streamlit's many script
threads) and nothing leaks when those threads die. Writers wait for each other through
SQLite's busy timeout.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ENV_VAR = "RELU_LAB_STORE"
BUSY_TIMEOUT_S = 30.0
_COLUMNS = {"key", "created", "summary", "doc", "bytes"}
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    key     TEXT PRIMARY KEY,
    created REAL NOT NULL,      -- epoch seconds of the (last) put
    summary TEXT NOT NULL,      -- JSON object: title, status, seconds, ... whatever the caller passed
    doc     BLOB NOT NULL,      -- zlib(JSON of the whole document)
    bytes   INTEGER NOT NULL    -- len(doc), so list() need not touch the blobs
)"""

log = logging.getLogger(__name__)


def default_path() -> Path:
    """$RELU_LAB_STORE, else <repo root>/.data/runs.db (repo root = the parent of `core`)."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return Path(__file__).resolve().parent.parent / ".data" / "runs.db"


def experiment_key(configs: list[Any], engine_version: str, extra: dict | None = None) -> str:
    """Canonical hash of what determines a result: the variants' settings, the engine, extras.

    Pass validated config dicts (or objects with `to_dict()`): 1 and 1.0 hash differently.
    """
    cfgs = [c.to_dict() if hasattr(c, "to_dict") else c for c in configs]
    blob = json.dumps({"configs": cfgs, "engine": engine_version, "extra": extra},
                      sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def store_key(configs: list[Any]) -> str:
    """The run-store key of an experiment (validated Configs). A CSV run is keyed by the file's
    content, not its (temporary, per-upload) path, so the same data uploaded twice is the same
    experiment."""
    import core
    from core.csvdata import csv_info

    dicts = [c.to_dict() for c in configs]
    extra = None
    if any(c.dataset == "csv" for c in configs):
        extra = {"csv_sha256": [csv_info(c.data_path).sha256 if c.dataset == "csv" else None for c in configs]}
        for d in dicts:
            if d["dataset"] == "csv":
                d["data_path"] = ""
    return experiment_key(dicts, core.__version__, extra)


STORABLE = ("ok", "diverged")  # a diverged run is a result; a stopped or interrupted one is not


def summarize(exp) -> dict[str, Any]:
    """What `list()` shows of a stored experiment; the page and the CLI store the same summary."""
    import numpy as np

    def final_val_acc(run) -> float | None:
        if run.epochs_done == 0:  # a variant that never started (RunResult.final cannot reshape it)
            return None
        v = run.final("val_acc")
        v = v[~np.isnan(v)]
        return round(float(v.mean()), 4) if len(v) else None

    return {"title": exp.title, "preset": exp.preset, "status": exp.status, "seconds": round(exp.seconds, 3),
            "variants": [r.name for r in exp.runs], "val_acc": {r.name: final_val_acc(r) for r in exp.runs}}


class CorruptStore(Exception):
    """The file is not a usable store (not SQLite, damaged, or a foreign `runs` table)."""


def _is_corruption(e: sqlite3.DatabaseError) -> bool:
    # Only "this file is damaged" errors; "database is locked" or "unable to open" must never
    # make us move a healthy store aside.
    return getattr(e, "sqlite_errorcode", None) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def _encode(doc: dict) -> bytes:
    return zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), 6)


def _decode(blob: Any) -> dict:
    doc = json.loads(zlib.decompress(blob))
    if not isinstance(doc, dict):
        raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
    return doc


_DECODE_ERRORS = (zlib.error, ValueError, TypeError)  # JSONDecodeError/UnicodeDecodeError are ValueErrors


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


_OPEN_LOCK = threading.Lock()  # serializes check / move-aside of a file within this process


class RunStore:
    def __init__(self, path: str | os.PathLike | None = None):
        self.path: Path = Path(path).expanduser() if path is not None else default_path()
        self.warnings: list[str] = []
        self._warn_lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _OPEN_LOCK:
            for _ in range(3):
                found = _file_id(self.path)
                try:
                    self._init_db()
                    return
                except (sqlite3.DatabaseError, CorruptStore) as e:
                    if isinstance(e, sqlite3.DatabaseError) and not _is_corruption(e):
                        raise
                    # Another process may have moved the bad file aside and started a fresh
                    # store meanwhile: never move *that* one aside, check it again instead.
                    if _file_id(self.path) == found:
                        self._move_aside(str(e))
            self._init_db()  # still failing: let the error out rather than loop

    # -- plumbing -------------------------------------------------------------------------

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        # Autocommit mode (isolation_level=None): each statement is its own transaction unless
        # we BEGIN explicitly, so nothing is ever left open by accident.
        con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                              check_same_thread=False)
        try:
            con.execute("PRAGMA synchronous=NORMAL")  # per connection; see the module docstring
            yield con
        finally:
            con.close()

    def _init_db(self) -> None:
        with self._connect() as con:
            # quick_check walks every b-tree page (measured ~20 ms for a 150 MB store); it finds a
            # truncated or overwritten file now rather than as a traceback in the middle of a page.
            rows = con.execute("PRAGMA quick_check").fetchall()
            if rows != [("ok",)]:
                raise CorruptStore("quick_check: " + "; ".join(r[0] for r in rows[:3]))
            con.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the file header
            con.execute(_SCHEMA)
            cols = {r[1] for r in con.execute("PRAGMA table_info(runs)")}
            if not _COLUMNS <= cols:  # someone else's `runs` table: not ours to write into
                raise CorruptStore(f"table runs has columns {sorted(cols)}, expected {sorted(_COLUMNS)}")
            con.execute("CREATE INDEX IF NOT EXISTS runs_created ON runs (created)")

    def _move_aside(self, reason: str) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        # The -wal/-shm files belong to the damaged file: a stale WAL must not be replayed into
        # the fresh store. Named so that the moved pair can still be opened together by sqlite3.
        for suffix in ("-wal", "-shm"):
            side = Path(str(self.path) + suffix)
            if side.exists():
                os.replace(side, str(target) + suffix)
        os.replace(self.path, target)
        self._warn(f"run store {self.path} was unreadable ({reason}); moved it to {target.name} "
                   "and started a fresh store")

    def _warn(self, msg: str) -> None:
        # De-duplicated: a page that lists the store on every rerun must not pile up copies.
        with self._warn_lock:
            if msg in self.warnings:
                return
            self.warnings.append(msg)
        log.warning(msg)

    # -- the API --------------------------------------------------------------------------

    def get(self, key: str) -> dict | None:
        """The stored document, or None if absent or unreadable (with a warning)."""
        try:
            with self._connect() as con:
                row = con.execute("SELECT doc FROM runs WHERE key = ?", (key,)).fetchone()
        except sqlite3.DatabaseError as e:
            if not _is_corruption(e):
                raise
            self._warn(f"run {key}: store damaged ({e}); treated as missing")
            return None
        if row is None:
            return None
        try:
            return _decode(row[0])
        except _DECODE_ERRORS as e:
            self._warn(f"run {key}: stored document cannot be decoded ({type(e).__name__}: {e}); "
                       "treated as missing")
            return None

    def put(self, key: str, doc: dict, summary: dict) -> None:
        """Store `doc` under `key` in one transaction; an existing run with that key is replaced."""
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty string")
        # Encode before taking the write lock: compressing MBs must not block other writers.
        blob = _encode(doc)
        summ = json.dumps({k: v for k, v in summary.items() if k != "store"}, separators=(",", ":"))
        with self._connect() as con:
            con.execute("INSERT OR REPLACE INTO runs (key, created, summary, doc, bytes) VALUES (?,?,?,?,?)",
                        (key, time.time(), summ, blob, len(blob)))

    def list(self, limit: int = 200) -> list[dict]:
        """Newest first: {**summary, "key", "created" (epoch s), "created_iso" (UTC), "bytes"}.

        Only summaries are read (documents can be MBs each); a row whose summary cannot be
        decoded is skipped with a warning. A damaged document shows up when it is opened (get).
        """
        try:
            with self._connect() as con:
                rows = con.execute("SELECT key, created, summary, bytes FROM runs "
                                   "ORDER BY created DESC, rowid DESC LIMIT ?", (int(limit),)).fetchall()
        except sqlite3.DatabaseError as e:
            if not _is_corruption(e):
                raise
            self._warn(f"run store damaged ({e}); listing nothing")
            return []
        return [r for r in (self._row(*row) for row in rows) if r is not None]

    def summary(self, key: str) -> dict | None:
        """One run's list() entry, without reading its document."""
        with self._connect() as con:
            row = con.execute("SELECT key, created, summary, bytes FROM runs WHERE key = ?", (key,)).fetchone()
        return None if row is None else self._row(*row)

    def _row(self, key: str, created: float, summ: str, size: int) -> dict | None:
        try:
            s = json.loads(summ)
            if not isinstance(s, dict):
                raise ValueError(f"expected a JSON object, got {type(s).__name__}")
        except _DECODE_ERRORS as e:
            self._warn(f"run {key}: summary cannot be decoded ({e}); skipped")
            return None
        iso = _dt.datetime.fromtimestamp(created, _dt.UTC).isoformat(timespec="seconds")
        # Our fields win over a summary that happens to use the same names.
        return {**s, "key": key, "created": created, "created_iso": iso, "bytes": size}

    def delete(self, key: str) -> bool:
        with self._connect() as con:
            return con.execute("DELETE FROM runs WHERE key = ?", (key,)).rowcount > 0

    def resolve(self, prefix: str) -> str:
        """The one stored key equal to or starting with `prefix`.

        Raises KeyError if none and ValueError if several match (message names them).
        """
        if not prefix:
            raise KeyError("empty key")
        with self._connect() as con:
            if con.execute("SELECT 1 FROM runs WHERE key = ?", (prefix,)).fetchone():
                return prefix
            keys = [r[0] for r in con.execute(
                "SELECT key FROM runs WHERE substr(key, 1, ?) = ? ORDER BY key LIMIT 3", (len(prefix), prefix))]
        if not keys:
            raise KeyError(f"no stored run with key {prefix!r}")
        if len(keys) > 1:
            more = ", ..." if len(keys) > 2 else ""
            raise ValueError(f"key prefix {prefix!r} is ambiguous: {', '.join(keys[:2])}{more}")
        return keys[0]
