"""The store's file: knowing it for ours, making it, and salvaging it when it is damaged.

* **Ours or hands off.** The store only ever writes, renames or replaces a file it recognises:
  one that begins with SQLite's header and carries our application id (PRAGMA application_id,
  bytes 68-71 of the header), or, for a store made before the id existed, a SQLite file holding
  exactly our `runs` table. A missing or empty file (0 bytes, or a SQLite file with no tables)
  becomes a store. Anything else (`--store /etc/hostname`, someone's database, a folder, a
  device) is NotAStore, naming the path, and nothing is written, renamed or created beside it.
* **The id is in the main file from the start.** A store is made in one rollback-journal
  transaction (schema, application id, schema version) and only then switched to WAL, so the
  raw header says "ours" without opening anything with SQLite. Files without our id are looked
  at through `immutable=1`, which reads and locks nothing beyond the file and creates no
  -wal/-shm files next to someone else's database.
* **Damage** is found by `problem` (quick_check, read-only) and mended by core.store.salvage.

Callers that change a file (prepare, salvage) hold `folder_lock` on its folder, so two
processes never salvage or create the same store at once.
"""
from __future__ import annotations

import json
import os
import sqlite3
import stat
import urllib.parse
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

APP_ID = 0x524C4142          # "RLAB": PRAGMA application_id of every run store
SCHEMA_VERSION = 1           # PRAGMA user_version: 0 = made before the id (runs table only)
MAGIC = b"SQLite format 3\x00"
BUSY_TIMEOUT_S = 30.0
V0_COLUMNS = ("key", "created", "summary", "doc", "bytes")  # the runs table before the id
V0_OBJECTS = {("table", "runs"), ("index", "runs_created"), ("index", "sqlite_autoindex_runs_1")}
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS runs (
        key      TEXT PRIMARY KEY,
        created  REAL NOT NULL,     -- epoch seconds of the (last) put
        summary  TEXT NOT NULL,     -- JSON object: title, status, seconds, ... whatever the caller passed
        doc      BLOB NOT NULL,     -- zlib(JSON of the whole document)
        bytes    INTEGER NOT NULL,  -- len(doc), so list() and the size cap need not touch the blobs
        accessed REAL NOT NULL DEFAULT 0  -- last put or get: the size cap evicts the least recently used
    )""",
    "CREATE INDEX IF NOT EXISTS runs_created ON runs (created)",
    "CREATE INDEX IF NOT EXISTS runs_accessed ON runs (accessed)",
    # One row per experiment being trained (core.store.claims): who trains it, until when.
    "CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, owner TEXT NOT NULL, expires REAL NOT NULL)",
)
RUN_COLUMNS = "key, created, summary, doc, bytes, accessed"


class StoreError(OSError):
    """The store cannot do what was asked; the message names the path. An OSError, like every
    other way a file can be unusable, so callers that survive a full disk survive this too."""


class NotAStore(StoreError):
    def __init__(self, path: os.PathLike | str, reason: str):
        super().__init__(f"store {path}: not a run store ({reason}); nothing was changed")


def primary_code(e: sqlite3.Error) -> int | None:
    code = getattr(e, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF  # extended codes (SQLITE_CORRUPT_INDEX, ...) share the low byte


def is_corruption(e: sqlite3.Error) -> bool:
    # Only "this file is damaged"; "database is locked" or "unable to open" must never make
    # us set a healthy store aside.
    return primary_code(e) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def uri(path: os.PathLike | str, **params: str) -> str:
    """A `file:` URI for sqlite3.connect(uri=True); mode=rw never creates a file."""
    q = urllib.parse.quote(os.fspath(path))
    return f"file:{q}" + (f"?{urllib.parse.urlencode(params)}" if params else "")


MODES = {"rw": {"mode": "rw"}, "rwc": {"mode": "rwc"}, "ro": {"mode": "ro"}, "immutable": {"immutable": "1"}}


def connect(path: os.PathLike | str, mode: str, timeout: float = BUSY_TIMEOUT_S) -> sqlite3.Connection:
    # Autocommit (isolation_level=None): each statement is its own transaction unless we BEGIN.
    return sqlite3.connect(uri(path, **MODES[mode]), uri=True, timeout=timeout, isolation_level=None,
                           check_same_thread=False)


@contextmanager
def transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """An exclusive flock on the folder, held while a store file there is created or swapped.
    A folder lock, not one on the database file: opening and closing the database file in this
    process would drop the POSIX locks SQLite holds on it. No fcntl (Windows): threads only."""
    try:
        import fcntl
        fd = os.open(folder, os.O_RDONLY)
    except (ImportError, OSError):
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def encode(doc: dict) -> bytes:
    return zlib.compress(json.dumps(doc, separators=(",", ":")).encode(), 6)


def decode(blob: Any) -> dict:
    doc = json.loads(zlib.decompress(blob))
    if not isinstance(doc, dict):
        raise ValueError(f"expected a JSON object, got {type(doc).__name__}")
    return doc


DECODE_ERRORS = (zlib.error, ValueError, TypeError)  # JSONDecodeError/UnicodeDecodeError are ValueErrors


# -- recognising ---------------------------------------------------------------------------

def identify(path: Path) -> str:
    """What is at `path`: "missing", "empty", "ours" (our id: healthy or damaged) or "v0" (a
    store made before the id). Raises NotAStore for anything else, having written nothing."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return "missing"
    if stat.S_ISDIR(st.st_mode):
        raise NotAStore(path, "it is a folder")
    if not stat.S_ISREG(st.st_mode):
        raise NotAStore(path, "it is not a regular file")
    if st.st_size == 0:
        return "empty"
    with open(path, "rb") as f:
        head = f.read(100)
    if head[:16] != MAGIC:
        raise NotAStore(path, "it is not a SQLite file")
    if len(head) < 72:
        raise NotAStore(path, "a SQLite header too short to say whose it is")
    app = int.from_bytes(head[68:72], "big")
    if app == APP_ID:
        return "ours"
    if app != 0:
        raise NotAStore(path, f"a SQLite database of another program, application_id {app:#x}")
    try:
        con = connect(path, "immutable")
        try:
            objects, columns = _schema(con)
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        raise NotAStore(path, f"a SQLite file that cannot be read: {e}") from None
    if not objects:
        return "empty"
    if _is_v0(objects, columns):
        return "v0"
    raise NotAStore(path, "a SQLite database of another program, tables "
                          + ", ".join(sorted(n for t, n in objects if t == "table"))[:80])


def _schema(con: sqlite3.Connection) -> tuple[set[tuple[str, str]], list[str]]:
    objects = {(t, n) for t, n in con.execute("SELECT type, name FROM sqlite_master")}
    columns = [r[1] for r in con.execute("PRAGMA table_info(runs)")]
    return objects, columns


def _is_v0(objects: set[tuple[str, str]], columns: list[str]) -> bool:
    return ("table", "runs") in objects and objects <= V0_OBJECTS and sorted(columns) == sorted(V0_COLUMNS)


def prepare(path: Path, wal: bool = True) -> None:
    """Make `path` (missing, empty, v0 or ours) a store of the current schema, in one transaction.
    The caller holds folder_lock. Checked again inside the transaction: another process may have
    made it meanwhile (then nothing is left to do), or put something else there (NotAStore)."""
    con = connect(path, "rwc")
    try:
        with transaction(con):
            app, version = (con.execute(f"PRAGMA {p}").fetchone()[0] for p in ("application_id", "user_version"))
            if app == APP_ID and version > SCHEMA_VERSION:
                raise StoreError(f"store {path}: made by a newer version of the lab (schema {version}, "
                                 f"this one reads {SCHEMA_VERSION}); nothing was changed")
            if app != APP_ID:
                objects, columns = _schema(con)
                if _is_v0(objects, columns):
                    con.execute("ALTER TABLE runs ADD COLUMN accessed REAL NOT NULL DEFAULT 0")
                    con.execute("UPDATE runs SET accessed = created")
                elif objects:
                    raise NotAStore(path, "a SQLite database of another program")
            for stmt in SCHEMA:
                con.execute(stmt)
            if app != APP_ID or version != SCHEMA_VERSION:
                con.execute(f"PRAGMA application_id = {APP_ID}")
                con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        if wal:
            con.execute("PRAGMA journal_mode=WAL")  # persistent: stored in the file header
            if app != APP_ID:  # a v0 store was in WAL already: put the id into the main file now
                con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        con.close()


def open_mode(path: Path) -> str:
    """How this process can use our store at `path`: "rw", or read-only "ro", or "immutable"
    when not even SQLite's -shm file can be made (a read-only folder). A write is tried and
    rolled back: neither os.access (root) nor BEGIN alone (WAL) tells a read-only file."""
    try:
        con = connect(path, "rw", timeout=0)
        try:
            with transaction(con):
                con.execute("CREATE TABLE relu_lab_write_probe (x)")  # any schema, even a v0 one
                raise _RolledBack
        finally:
            con.close()
    except _RolledBack:
        return "rw"
    except sqlite3.DatabaseError as e:
        if primary_code(e) == sqlite3.SQLITE_BUSY:
            return "rw"  # another process is writing: it is writable
        if is_corruption(e):  # too damaged to try: whether it could be salvaged here
            return "rw" if os.access(path, os.W_OK) and os.access(path.parent, os.W_OK) else "ro"
        if primary_code(e) not in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM,
                                   sqlite3.SQLITE_AUTH, sqlite3.SQLITE_IOERR):
            raise
    try:
        con = connect(path, "ro")
        try:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            con.close()
        return "ro"
    except sqlite3.OperationalError as e:
        if primary_code(e) != sqlite3.SQLITE_CANTOPEN:
            raise
    return "immutable"


class _RolledBack(Exception):
    pass


def problem(path: Path, mode: str) -> str | None:
    """Why our store at `path` is damaged, or None if it is sound. quick_check walks every b-tree
    page (about 20 ms for 150 MB): a truncated or overwritten file is found at opening, not as
    an error in the middle of a page. Read-only, so a damaged file is kept as it was found."""
    try:
        con = connect(path, "ro" if mode == "rw" else mode)
        try:
            rows = con.execute("PRAGMA quick_check").fetchall()
            version = con.execute("PRAGMA user_version").fetchone()[0]
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        if is_corruption(e):
            return str(e)
        raise
    if rows != [("ok",)]:
        return "quick_check: " + "; ".join(r[0] for r in rows[:3])
    if version > SCHEMA_VERSION:
        raise StoreError(f"store {path}: made by a newer version of the lab (schema {version}, "
                         f"this one reads {SCHEMA_VERSION}); nothing was changed")
    return None
