"""RunStore: every finished experiment, kept in one SQLite file.

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

Care (core.store.sqlfile): only a file recognised as a store is ever written or replaced.
Before every operation the file's identity (device, inode) is compared with the one opened: a
store deleted or replaced while the server runs is opened again (a fresh one if it is gone),
never a "no such table" on every request. A damaged store is salvaged into a fresh file. A
store that cannot be written is served read-only.

The runs and the claims themselves (get, put, list, the size cap, ...) are core.store.base's,
shared with the PostgreSQL store; this module says how SQLite is opened, kept and asked.

Warnings are events for the caller: every method takes `events`, a list the caller owns, and
appends to it what it should tell its own user (short, never naming other runs); each is also
logged. Nothing is kept server-wide. A lasting state (read-only, unusable) is `condition`.
"""
from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from core.store import salvage as S
from core.store import sqlfile as F
from core.store.base import BaseRunStore, Events, _say, queries
from core.store.keys import default_path

log = logging.getLogger(__name__)
T = TypeVar("T")

_OPEN_LOCK = threading.Lock()  # serializes opening, re-opening and salvaging within this process


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_dev, st.st_ino


class RunStore(BaseRunStore):
    """The run store at `path` (default $RELU_LAB_STORE, else <repo>/.data/runs.db).

    max_mb: a size cap on the stored documents; a put evicts the least recently used runs
    (by put or get) until the rest fit. clock: epoch seconds, for created/accessed times and
    claim leases (tests pass a fake one). events: receives what opening the store found.

    Raises NotAStore (naming the path) if something else is at `path`, StoreError if the store
    cannot be created; both are OSErrors. A store that exists but cannot be written is opened
    read-only (`read_only`, `condition`).
    """

    _touch_errors = (sqlite3.OperationalError,)

    def __init__(self, path: str | os.PathLike | None = None, *, max_mb: float | None = None,
                 clock: Callable[[], float] = time.time, events: Events = None):
        self.path: Path = Path(path).expanduser() if path is not None else default_path()
        self.max_bytes = int(max_mb * 2**20) if max_mb else None
        self.clock = clock
        self._mode: str | None = None    # "rw", "ro", "immutable"; None: no usable store file
        self._id: tuple[int, int] | None = None
        self._condition: str | None = None
        self._said_damaged = False
        self._q = _QUERIES
        opened: list[str] = []
        with _OPEN_LOCK:
            self._open(opened)
        for msg in opened + ([self._condition] if self._condition else []):
            _say(events, msg)

    # -- the file ---------------------------------------------------------------------------

    def _open(self, events: list[str], salvaged: bool = False) -> None:
        path = self.path
        kind = F.identify(path)
        if kind == "missing":
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise F.StoreError(f"store {path}: cannot be created ({e.strerror or e})") from None
        if kind != "ours":
            try:
                with F.folder_lock(path.parent):
                    F.prepare(path)
            except sqlite3.OperationalError as e:
                if not _is_read_only_error(e):
                    raise
                if kind != "v0":  # an older store is served as it is (reads need no new column)
                    raise F.StoreError(f"store {path}: cannot be created ({e})") from None
        mode = F.open_mode(path)
        trouble = F.problem(path, mode)
        if trouble is not None:
            if salvaged:  # never a loop of salvages
                raise F.StoreError(f"store {path}: still damaged after salvaging it ({trouble[:80]})")
            if mode == "rw":
                self._salvage(trouble, events)
                return
            self._say_damaged(f"the run store {path} is damaged ({trouble[:80]}) and read-only here: "
                              "the runs that can still be read are served", events)
        self._mode, self._id = mode, _file_id(path)
        self._condition = None if mode == "rw" else \
            f"the run store {path} is read-only: stored runs are served, new ones are not kept"
        if mode == "rw":
            con = F.connect(path, "rw")
            try:
                con.execute("PRAGMA journal_mode=WAL")  # a salvaged store starts with a rollback journal
            finally:
                con.close()

    def _salvage(self, reason: str, events: list[str]) -> None:
        """Called holding _OPEN_LOCK, on our file found damaged. Another process may have salvaged
        it meanwhile and put a fresh store in its place: that one is opened, never set aside."""
        found = _file_id(self.path)
        with F.folder_lock(self.path.parent):
            if F.identify(self.path) not in ("ours", "v0"):  # NotAStore: overwritten by something else
                raise F.StoreError(f"store {self.path}: damaged and not recognisable")
            if _file_id(self.path) == found and F.problem(self.path, "rw") is not None:
                log.warning("run store %s is damaged (%s): salvaging", self.path, reason)
                kept, total, aside = S.salvage(self.path)
                events.append(f"the run store {self.path} was damaged: kept {kept} of {total} runs in a fresh "
                              f"file; the damaged one is kept as {aside.name}")
        self._open(events, salvaged=True)

    def _say_damaged(self, msg: str, events: list[str]) -> None:
        if not self._said_damaged:  # once: a read-only damaged store cannot be mended here
            self._said_damaged = True
            events.append(msg)

    def _ensure(self, events: Events) -> bool:
        """Before each operation: is the file still the one opened? Deleted or replaced while in
        use, it is opened again; a fresh one if it is gone. Returns whether there is a store."""
        if _file_id(self.path) == self._id:
            return self._mode is not None
        with _OPEN_LOCK:
            now = _file_id(self.path)
            if now != self._id:
                said: list[str] = []
                try:
                    self._open(said)
                    if now is None:
                        said.insert(0, f"the run store {self.path} was deleted while in use; a fresh one was started")
                except (OSError, sqlite3.Error) as e:
                    self._unusable(e, said)
                for msg in said:
                    _say(events, msg)
        return self._mode is not None

    def _op(self, events: Events, fn: Callable[[sqlite3.Connection], T], default: T, write: bool = False) -> T:
        """fn(connection) on the current file. Damage found on the way is salvaged and fn tried
        once more; a write refused as read-only turns the store read-only (said once)."""
        for attempt in (0, 1):
            if not self._ensure(events) or (write and self._mode != "rw"):
                return default
            try:
                with self._connect() as con:
                    return fn(con)
            except sqlite3.DatabaseError as e:
                if attempt == 0 and F.is_corruption(e):
                    self._damaged(str(e), events)
                    continue
                if attempt == 0 and F.primary_code(e) == sqlite3.SQLITE_CANTOPEN \
                        and _file_id(self.path) != self._id:
                    continue  # gone between the check and the open: _ensure opens it again
                if attempt == 0 and self._mode == "rw" and _is_read_only_error(e):
                    self._became_read_only(events)  # its folder or file lost write permission
                    continue
                raise
        return default

    def _unusable(self, e: BaseException, said: list[str]) -> None:
        # Something that is not (or no longer) a store is at the path: keep nothing, touch nothing,
        # say so once; the next change of the file (fixed, removed) is looked at again.
        self._mode, self._id = None, _file_id(self.path)
        self._condition = f"{e}; runs are not kept until it is fixed"
        said.append(self._condition)

    def _damaged(self, reason: str, events: Events) -> None:
        said: list[str] = []
        with _OPEN_LOCK:
            if _file_id(self.path) == self._id:
                try:
                    if self._mode == "rw":
                        self._salvage(reason, said)
                    else:
                        self._say_damaged(f"the run store {self.path} is damaged and read-only here: "
                                          "the runs that can still be read are served", said)
                except (OSError, sqlite3.Error) as e:
                    self._unusable(e, said)
        for msg in said:
            _say(events, msg)

    def _became_read_only(self, events: Events) -> None:
        with _OPEN_LOCK:
            if self._mode == "rw":
                self._mode = F.open_mode(self.path) if _file_id(self.path) is not None else None
                if self._mode == "rw":
                    self._mode = "ro"  # it just refused a write whatever the probe says
                self._condition = f"the run store {self.path} is read-only: stored runs are served, new ones are not kept"
                _say(events, self._condition)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        con = F.connect(self.path, self._mode or "ro")
        try:
            con.execute("PRAGMA synchronous=NORMAL")  # per connection; see the module docstring
            yield con
        finally:
            con.close()

    # -- what the shared half (core.store.base) asks of SQLite ---------------------------------

    def _transaction(self, con: sqlite3.Connection):
        return F.transaction(con)

    def _now(self, con: sqlite3.Connection) -> float:
        return self.clock()

    def _before_touch(self, con: sqlite3.Connection) -> None:
        con.execute("PRAGMA busy_timeout = 1000")  # the access time must not wait long for a writer

    def try_claim(self, key: str, owner: str, lease_s: float) -> bool:
        """As BaseRunStore.try_claim: the upsert and the look at who holds it, in one transaction."""
        def take(con: sqlite3.Connection) -> bool:
            now = self.clock()
            with F.transaction(con):
                con.execute(self._q["claim"], (key, owner, now + lease_s, now))
                return con.execute("SELECT owner FROM claims WHERE key = ?", (key,)).fetchone()[0] == owner
        return self._op(None, take, True, write=True)


_QUERIES = {
    **queries("runs", "claims", "rowid"),
    "put": f"INSERT OR REPLACE INTO runs ({F.RUN_COLUMNS}) VALUES (?,?,?,?,?,?)",
    "claim": "INSERT INTO claims (key, owner, expires) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE "
             "SET owner = excluded.owner, expires = excluded.expires "
             "WHERE claims.expires <= ? OR claims.owner = excluded.owner",
}


def _is_read_only_error(e: sqlite3.Error) -> bool:
    return F.primary_code(e) in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM,
                                 sqlite3.SQLITE_AUTH)

