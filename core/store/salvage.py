"""Salvaging a damaged store: every run that can still be read goes into a fresh file.

A damaged store (SQLITE_CORRUPT/NOTADB, or quick_check) is copied row by row into a fresh file,
skipping what cannot be read, and the fresh file takes its place; the damaged file (with its
-wal/-shm) is kept as `<name>.corrupt-<time>`. The damaged file is only read (mode=ro) before
it is set aside, so it is kept as it was found. One damaged page loses the runs on it, not the
ones after it: runs are found by rowid, stepping past damaged pages, and through the key index.
"""
from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

from core.store.sqlfile import DECODE_ERRORS, RUN_COLUMNS, connect, decode, prepare, transaction


def salvage(path: Path) -> tuple[int, int, Path]:
    """Replace the damaged store at `path` by a fresh one holding every run that can still be
    read; keep the damaged file (and its -wal/-shm) as `<name>.corrupt-<time>`. Returns (kept,
    found, aside). The caller holds folder_lock and has checked `path` is the file it found damaged.

    `path` is never missing meanwhile: the damaged file is hard-linked aside, then the fresh one
    renamed over it (a folder without hard links: renamed aside first)."""
    fresh = path.with_name(f"{path.name}.salvage-{os.getpid()}")
    fresh.unlink(missing_ok=True)
    try:
        prepare(fresh, wal=False)  # a rollback journal: nothing beside it to move with it
        kept, found = _copy_readable(path, fresh)
        aside = _aside_name(path)
        try:
            os.link(path, aside)
            linked = True
        except OSError:
            linked = False
        # The -wal/-shm belong to the damaged file: a stale WAL must not be replayed into the
        # fresh store. Named so that the moved pair can still be opened together by sqlite3.
        for suffix in ("-wal", "-shm"):
            side = Path(f"{path}{suffix}")
            if side.exists():
                os.replace(side, f"{aside}{suffix}")
        if not linked:
            os.replace(path, aside)
        os.replace(fresh, path)
    finally:
        fresh.unlink(missing_ok=True)
    return kept, found, aside


def _aside_name(path: Path) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    target, n = path.with_name(f"{path.name}.corrupt-{stamp}"), 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    return target


def _copy_readable(src: Path, dst: Path) -> tuple[int, int]:
    """Copy every run of `src` whose row and document can be read into `dst`: (kept, found).
    Runs are found two ways, by rowid (skipping past damaged pages) and through the key index,
    so one damaged page loses the runs on it, not the ones after it."""
    s = connect(src, "ro")
    d = connect(dst, "rw")
    try:
        try:
            # Lenient reading: a file shorter than its header says (truncated) is read as far as
            # it goes instead of refused whole. Harmless here: this connection cannot write.
            s.execute("PRAGMA writable_schema = ON")
            columns = [r[1] for r in s.execute("PRAGMA table_info(runs)")]
        except sqlite3.DatabaseError:
            return 0, 0  # not even the schema: nothing to find
        if "key" not in columns:
            return 0, 0
        cols = RUN_COLUMNS if "accessed" in columns else RUN_COLUMNS.replace("accessed", "created")
        found: dict[str, int | None] = {}  # key -> rowid (None: found through the index only)
        lost_rowids = 0
        for rid in _rowids(s):
            try:
                found.setdefault(s.execute("SELECT key FROM runs WHERE rowid = ?", (rid,)).fetchone()[0], rid)
            except (sqlite3.DatabaseError, TypeError):  # TypeError: no row after all
                lost_rowids += 1
        for key in _indexed_keys(s):
            found.setdefault(key, None)
        kept = 0
        with transaction(d):
            for key, rid in found.items():
                row = _read_row(s, cols, key, rid)
                if row is not None:
                    d.execute(f"INSERT OR REPLACE INTO runs ({RUN_COLUMNS}) VALUES (?,?,?,?,?,?)", row)
                    kept += 1
        return kept, len(found) + lost_rowids
    finally:
        s.close()
        d.close()


def _read_row(con: sqlite3.Connection, cols: str, key: str, rid: int | None) -> tuple | None:
    queries = ([(f"SELECT {cols} FROM runs WHERE rowid = ?", rid)] if rid is not None else []) + \
        [(f"SELECT {cols} FROM runs WHERE key = ?", key), (f"SELECT {cols} FROM runs NOT INDEXED WHERE key = ?", key)]
    for sql, arg in queries:
        try:
            row = con.execute(sql, (arg,)).fetchone()
        except sqlite3.DatabaseError:
            continue
        if row is None or row[0] != key:
            continue
        try:
            decode(row[3])  # readable means its document decodes, not only that SQLite returns bytes
        except DECODE_ERRORS:
            return None
        return row
    return None


def _indexed_keys(con: sqlite3.Connection) -> Iterator[str]:
    try:
        for (key,) in con.execute("SELECT key FROM runs INDEXED BY sqlite_autoindex_runs_1 ORDER BY key"):
            yield key
    except sqlite3.DatabaseError:
        return  # the rest of the index is damaged; the rowid scan found what it could


def _rowids(con: sqlite3.Connection) -> Iterator[int]:
    """Every rowid of runs that can be reached, in order, stepping past damaged pages."""
    try:
        top = con.execute("SELECT max(rowid) FROM runs").fetchone()[0]
    except sqlite3.DatabaseError:
        top = None
    last = -(2 ** 63)
    while True:
        try:
            for (rid,) in con.execute("SELECT rowid FROM runs WHERE rowid > ? ORDER BY rowid", (last,)):
                yield rid
                last = rid
            return
        except sqlite3.DatabaseError:
            nxt = _first_readable_after(con, last, top)
            if nxt is None:
                return
            yield nxt
            last = nxt


def _first_readable_after(con: sqlite3.Connection, last: int, top: int | None) -> int | None:
    """The first rowid after `last` that can be looked up: exponential steps past the damage,
    then a binary search back to its end."""
    def probe(x: int) -> int | None | bool:  # the first rowid >= x; None: none; False: damaged
        try:
            row = con.execute("SELECT rowid FROM runs WHERE rowid >= ? ORDER BY rowid LIMIT 1", (x,)).fetchone()
        except sqlite3.DatabaseError:
            return False
        return None if row is None else row[0]

    top = top if top is not None else last + 2 ** 40
    bad, step, good = last, 1, None
    while bad + step <= top:
        r = probe(bad + step)
        if r is None:
            return None
        if r is not False:
            good = (bad + step, r)
            break
        bad, step = bad + step, step * 2
    if good is None:
        return None
    while good[0] - bad > 1:  # probe(bad) failed, probe(good[0]) did not
        mid = (bad + good[0]) // 2
        r = probe(mid)
        if r is False:
            bad = mid
        elif r is not None:
            good = (mid, r)
        else:
            break
    return good[1]
