"""PgRunStore: the run store on PostgreSQL, shared by every replica of a hosted lab.

`RELU_LAB_STORE=postgresql://user:password@host:5432/db` (or `--store postgresql://...`) selects
it through core.store.open_run_store; psycopg 3 is imported only then. Same public interface as
the SQLite RunStore: get, put, list, summary, delete, resolve, read_only, condition, and the four
claim methods core.store.claims builds on, each taking an optional `events` list. Those are
core.store.base's, shared with SQLite; this module says how PostgreSQL is reached and asked.

* **Its own tables only.** Everything lives in one PostgreSQL schema (namespace, default
  `relu_lab`) of the database: `runs`, `claims` and `schema_version`. A namespace holding other
  tables and no `schema_version` of ours is NotAStore, and nothing is created or changed there.
* **Created and migrated by the program.** On start, in one transaction under an advisory lock
  (replicas starting together migrate once): the namespace, then every step of MIGRATIONS above
  the version recorded in `schema_version`, each recorded there. A database made by a newer
  version of the lab is refused (StoreError), never downgraded.
* **Documents** are the SQLite store's bytes: zlib-compressed JSON in a bytea column (never
  pickle: reading a store must not be able to run code). Summaries are small JSON texts.
* **Claims** are the same row `claims(key, owner, expires)`: INSERT ... ON CONFLICT DO UPDATE
  ... WHERE the lease expired (or it is the same owner) RETURNING owner, one atomic statement.
* **Time** is the database server's clock (clock_timestamp()) unless a `clock` is passed
  (tests): replicas on machines whose clocks disagree still agree on when a lease ran out.
* **Connections** come from a small pool (at most POOL_SIZE idle, per process): opening one
  costs about 5 ms on loopback and a TLS handshake on a managed server. A pooled connection
  that broke (server restart) is dropped and the operation tried once on a fresh one; every
  operation here is idempotent, so trying it again is safe.
* **Errors** are StoreErrors (OSErrors), naming the server without its password, so callers
  that survive a full disk on SQLite survive an unreachable database too. A server or role that
  refuses writes (a read replica, a role with SELECT only) is served read-only, said once.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import urllib.parse
from collections.abc import Callable
from typing import TypeVar

import psycopg
from psycopg import errors as pgerr

from core.store.base import BaseRunStore, Events, _say, queries
from core.store.sqlfile import NotAStore, StoreError

NAMESPACE = "relu_lab"
APP = "relu-lab"              # schema_version.app: whose tables these are
SCHEMA_VERSION = 1
POOL_SIZE = 4
CONNECT_TIMEOUT_S = 10
# Each step takes the schema from version n-1 to n; "{ns}" is the quoted namespace. Never edit
# a released step: add one.
MIGRATIONS: dict[int, tuple[str, ...]] = {
    1: (
        """CREATE TABLE {ns}.runs (
            key      text PRIMARY KEY,
            seq      bigserial,                  -- newest put last, like SQLite's rowid
            created  double precision NOT NULL,  -- epoch seconds of the (last) put
            summary  text NOT NULL,              -- JSON object
            doc      bytea NOT NULL,             -- zlib(JSON of the whole document)
            bytes    bigint NOT NULL,            -- length(doc): list() and the size cap need not read it
            accessed double precision NOT NULL   -- last put or get: the size cap evicts the least recent
        )""",
        "CREATE INDEX runs_created ON {ns}.runs (created)",
        "CREATE INDEX runs_accessed ON {ns}.runs (accessed, seq)",
        "CREATE TABLE {ns}.claims (key text PRIMARY KEY, owner text NOT NULL, expires double precision NOT NULL)",
    ),
}
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")

log = logging.getLogger(__name__)
T = TypeVar("T")


def redact(url: str) -> str:
    """The URL without its password and query (which may hold one): fit for messages and logs."""
    try:
        u = urllib.parse.urlsplit(url)
        host = u.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        netloc = (f"{u.username}@" if u.username else "") + host + (f":{u.port}" if u.port else "")
    except ValueError:
        return url.split("@")[-1].split("?")[0]
    return urllib.parse.urlunsplit((u.scheme, netloc, u.path, "", ""))


class _Pool:
    """A few idle autocommit connections, reused; a forked child starts with none of them."""

    def __init__(self, url: str, size: int = POOL_SIZE):
        self.url, self.size = url, size
        self._idle: list[psycopg.Connection] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def get(self) -> tuple[psycopg.Connection, bool]:
        """(connection, whether it was reused)."""
        with self._lock:
            if self._pid != os.getpid():  # never use a parent's socket
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop(), True
        return psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S,
                               application_name="relu-lab"), False

    def put(self, con: psycopg.Connection) -> None:
        if not con.closed and con.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            with self._lock:
                if self._pid == os.getpid() and len(self._idle) < self.size:
                    self._idle.append(con)
                    return
        con.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for con in idle:
            con.close()


class PgRunStore(BaseRunStore):
    """The run store in the PostgreSQL database at `url` (see the module docstring).

    max_mb: a size cap, as RunStore's. clock: epoch seconds (None: the database server's).
    namespace: the PostgreSQL schema holding the tables. events: what opening found.
    Raises NotAStore if the namespace holds another program's tables, StoreError if the server
    cannot be reached or the schema cannot be made; both are OSErrors."""

    _touch_errors = (psycopg.Error,)

    def __init__(self, url: str, *, max_mb: float | None = None, clock: Callable[[], float] | None = None,
                 events: Events = None, namespace: str = NAMESPACE):
        if not _NAME.fullmatch(namespace):
            raise ValueError(f"namespace {namespace!r}: lower-case letters, digits and _, at most 63")
        self.url, self.path, self.ns = url, redact(url), namespace
        self.max_bytes = int(max_mb * 2**20) if max_mb else None
        self.clock = clock
        self._pool = _Pool(url)
        self._mode = "rw"
        self._condition: str | None = None
        self._q = _queries(f'"{namespace}"')
        self._op(None, self._open, None, opening=True)
        if self._condition:
            _say(events, self._condition)

    def close(self) -> None:
        """Close the idle connections (a store used after this opens new ones)."""
        self._pool.close()

    # -- the schema -------------------------------------------------------------------------

    def _version(self, con: psycopg.Connection) -> int | None:
        """The recorded schema version; 0 for no namespace or an empty one; None if it holds
        tables that are not ours."""
        tables = {r[0] for r in con.execute(
            "SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = %s", (self.ns,))}
        if not tables:
            return 0
        if "schema_version" not in tables:
            return None
        row = con.execute(f'SELECT max(version), bool_and(app = %s) FROM "{self.ns}".schema_version',
                          (APP,)).fetchone()
        return None if row[1] is False else (row[0] or 0)

    def _open(self, con: psycopg.Connection) -> None:
        version = self._version(con)
        if version is None:
            raise NotAStore(self._where(), f"its tables are another program's ({self._tables(con)})")
        if version > SCHEMA_VERSION:
            raise StoreError(f"store {self._where()}: made by a newer version of the lab (schema {version}, "
                             f"this one reads {SCHEMA_VERSION}); nothing was changed")
        if version < SCHEMA_VERSION:
            try:
                self._migrate(con)
            except (pgerr.InsufficientPrivilege, pgerr.ReadOnlySqlTransaction) as e:
                if version == 0:
                    raise StoreError(f"store {self._where()}: cannot be created ({_first_line(e)})") from None
                # An older schema that this role may not change: served as it is, read-only.
                self._read_only(f"the run store {self.path} is read-only: stored runs are served, new ones are "
                                "not kept (its schema is older and cannot be migrated here)")
                return
        tables = [f'"{self.ns}".{t}' for t in ("runs", "claims")]
        may = " AND ".join(f"has_table_privilege(%s, '{p}')" for p in ("INSERT", "UPDATE", "DELETE") for _ in tables)
        ro, = con.execute(f"SELECT current_setting('transaction_read_only') = 'on' OR NOT ({may})",
                          tables * 3).fetchone()
        if ro:
            self._read_only(f"the run store {self.path} is read-only: stored runs are served, new ones are not kept")

    def _migrate(self, con: psycopg.Connection) -> None:
        ns = f'"{self.ns}"'
        with con.transaction():
            # Replicas starting together: one migrates, the others wait here and find it done.
            con.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{APP}:{self.ns}",))
            version = self._version(con)
            if version is None:
                raise NotAStore(self._where(), f"its tables are another program's ({self._tables(con)})")
            if version >= SCHEMA_VERSION:
                return
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {ns}")
            con.execute(f"CREATE TABLE IF NOT EXISTS {ns}.schema_version (version integer PRIMARY KEY, "
                        "app text NOT NULL, applied double precision NOT NULL)")
            for v in range(version + 1, SCHEMA_VERSION + 1):
                for stmt in MIGRATIONS[v]:
                    con.execute(stmt.format(ns=ns))
                con.execute(f"INSERT INTO {ns}.schema_version (version, app, applied) VALUES (%s, %s, %s)",
                            (v, APP, self._now(con)))
            log.info("run store %s: schema %d -> %d", self.path, version, SCHEMA_VERSION)

    def _tables(self, con: psycopg.Connection) -> str:
        names = [r[0] for r in con.execute("SELECT tablename FROM pg_catalog.pg_tables WHERE schemaname = %s "
                                           "ORDER BY tablename LIMIT 4", (self.ns,))]
        return ", ".join(names)[:80]

    def _where(self) -> str:
        return f"{self.path} (schema {self.ns})"

    def _read_only(self, msg: str) -> None:
        self._mode, self._condition = "ro", msg

    # -- connections --------------------------------------------------------------------------

    def _now(self, con: psycopg.Connection) -> float:
        if self.clock is not None:
            return self.clock()
        return con.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()[0]

    def _op(self, events: Events, fn: Callable[[psycopg.Connection], T], default: T, write: bool = False,
            opening: bool = False) -> T:
        """fn(connection), on a pooled connection. A reused connection that turns out broken is
        dropped and fn tried once on a fresh one; a write refused as read-only turns the store
        read-only (said once). Other database errors are StoreErrors naming the server."""
        if write and self._mode != "rw":
            return default
        for attempt in (0, 1):
            try:
                con, reused = self._pool.get()
            except psycopg.Error as e:
                raise StoreError(f"store {self.path}: cannot connect ({_first_line(e)})") from None
            try:
                out = fn(con)
            except psycopg.OperationalError as e:
                broken = con.broken
                con.close()
                if reused and attempt == 0 and broken:
                    continue
                raise StoreError(f"store {self.path}: {_first_line(e)}") from None
            except (pgerr.ReadOnlySqlTransaction, pgerr.InsufficientPrivilege) as e:
                self._pool.put(con)
                if write and not opening:
                    self._read_only(f"the run store {self.path} is read-only: stored runs are served, "
                                    "new ones are not kept")
                    _say(events, self._condition)
                    return default
                raise StoreError(f"store {self.path}: {_first_line(e)}") from None
            except psycopg.Error as e:
                self._pool.put(con)
                raise StoreError(f"store {self.path}: {_first_line(e)}") from None
            except BaseException:
                con.close()
                raise
            self._pool.put(con)
            return out
        return default  # not reached: the second attempt returns or raises

    # -- what the shared half (core.store.base) asks of PostgreSQL -----------------------------

    def _transaction(self, con: psycopg.Connection):
        return con.transaction()

    def _lock_cap(self, con: psycopg.Connection) -> None:
        if self.max_bytes is not None:  # one evictor at a time: puts at once never over-evict
            con.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"{APP}:{self.ns}:cap",))

    def try_claim(self, key: str, owner: str, lease_s: float) -> bool:
        """As BaseRunStore.try_claim: one atomic upsert that only takes an expired (or own) claim."""
        def take(con: psycopg.Connection) -> bool:
            now = self._now(con)
            return con.execute(self._q["claim"], (key, owner, now + lease_s, now)).fetchone() is not None
        return self._op(None, take, True, write=True)


def _queries(ns: str) -> dict[str, str]:
    """base.queries in psycopg's placeholders, with PostgreSQL's own put and claim."""
    shared = {k: v.replace("?", "%s") for k, v in queries(f"{ns}.runs", f"{ns}.claims", "seq").items()}
    return {
        **shared,
        "put": f"INSERT INTO {ns}.runs (key, created, summary, doc, bytes, accessed) VALUES (%s, %s, %s, %s, %s, %s) "
               "ON CONFLICT (key) DO UPDATE SET seq = excluded.seq, created = excluded.created, "
               "summary = excluded.summary, doc = excluded.doc, bytes = excluded.bytes, accessed = excluded.accessed",
        "claim": f"INSERT INTO {ns}.claims AS c (key, owner, expires) VALUES (%s, %s, %s) ON CONFLICT (key) "
                 "DO UPDATE SET owner = excluded.owner, expires = excluded.expires "
                 "WHERE c.expires <= %s OR c.owner = excluded.owner RETURNING owner",
    }


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0][:200] if text else type(e).__name__

