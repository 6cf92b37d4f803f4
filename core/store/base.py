"""What every run store does, whatever database holds it: the runs and the claims, in SQL.

`BaseRunStore` holds the logic the SQLite store (core.store.runs.RunStore) and the PostgreSQL
store (core.store.pg.PgRunStore) share: encoding documents, the size cap and its least recently
used eviction, listing, resolving key prefixes, the access time kept for the cap, three of the
four claim methods, and the warnings told to the caller (`events`). A backend says only how it
talks to its database:

* `_op(events, fn, default, write=False)`: fn(connection) on a connection of its own, with its
  own recovery (SQLite: a replaced or damaged file; PostgreSQL: a broken pooled connection),
  returning `default` when there is no store to ask or a write cannot be made;
* `_transaction(con)`: one write transaction (SQLite: BEGIN IMMEDIATE; PostgreSQL: con.transaction());
* `_now(con)`: epoch seconds for created / accessed times and claim leases;
* `_lock_cap(con)`, `_before_touch(con)`: what it needs to keep the cap or the access time right;
* `try_claim`: the one atomic statement that takes a claim;
* `_q`: its SQL, made by `queries(table_prefix, order)` (qmark placeholders; PostgreSQL turns
  them into %s) with its own `put` and `claim`.

`_mode` ("rw" or a read-only mode; None: no usable store) and `_condition` are the backend's.
"""
from __future__ import annotations

import datetime as _dt
import json
import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from core.store import sqlfile as F

ACCESS_STEP_S = 60.0  # a get records its time at most this often per run (LRU needs no finer grain)

log = logging.getLogger("core.store")
T = TypeVar("T")
Events = list[str] | None


def _say(events: Events, msg: str) -> None:
    log.warning(msg)
    if events is not None:
        events.append(msg)


def _mb(n: float) -> str:
    return f"{n / 2**20:.1f} MB"


def queries(runs: str, claims: str, order: str) -> dict[str, str]:
    """The statements both backends run as they are (qmark placeholders). runs / claims: the
    tables' names as the backend spells them; order: the column that orders puts (SQLite's rowid,
    PostgreSQL's seq), the tie-break of the least-recently-used order and of list()."""
    return {
        "get": f"SELECT doc, accessed FROM {runs} WHERE key = ?",
        "get_doc": f"SELECT doc FROM {runs} WHERE key = ?",  # read-only: an older store has no accessed
        "touch": f"UPDATE {runs} SET accessed = ? WHERE key = ? AND accessed < ?",
        "total": f"SELECT COALESCE(SUM(bytes), 0) FROM {runs}",
        "lru": f"SELECT key, bytes FROM {runs} WHERE key <> ? ORDER BY accessed, {order}",
        "delete": f"DELETE FROM {runs} WHERE key = ?",
        "list": f"SELECT key, created, summary, bytes FROM {runs} ORDER BY created DESC, {order} DESC LIMIT ?",
        "summary": f"SELECT key, created, summary, bytes FROM {runs} WHERE key = ?",
        "exists": f"SELECT 1 FROM {runs} WHERE key = ?",
        "prefix": f"SELECT key FROM {runs} WHERE substr(key, 1, ?) = ? ORDER BY key LIMIT 3",
        "renew": f"UPDATE {claims} SET expires = ? WHERE key = ? AND owner = ?",
        "release": f"DELETE FROM {claims} WHERE key = ? AND owner = ?",
        "holder": f"SELECT owner FROM {claims} WHERE key = ? AND expires > ?",
    }


class BaseRunStore:
    """The shared half of a run store (see the module docstring); not used on its own."""

    path: Any
    max_bytes: int | None
    _mode: str | None
    _condition: str | None
    _q: dict[str, str]
    _touch_errors: tuple[type[BaseException], ...] = ()  # a failed access-time update is ignored

    # -- what a backend provides --------------------------------------------------------------

    def _op(self, events: Events, fn: Callable[[Any], T], default: T, write: bool = False) -> T:
        raise NotImplementedError

    def _transaction(self, con: Any) -> AbstractContextManager:
        raise NotImplementedError

    def _now(self, con: Any) -> float:
        raise NotImplementedError

    def _lock_cap(self, con: Any) -> None:
        """Inside put's transaction, before the insert: serialize evictors if the backend needs it."""

    def _before_touch(self, con: Any) -> None:
        """Before the access-time update a get makes (bookkeeping that must not hold it up)."""

    def try_claim(self, key: str, owner: str, lease_s: float) -> bool:
        """Take the claim on `key` for `owner` until now + lease_s, unless another owner holds an
        unexpired one (an expired claim is taken over). True if `owner` holds it now. A store
        that keeps nothing (read-only) has nothing to share: every claim is granted."""
        raise NotImplementedError

    # -- the store's state ----------------------------------------------------------------------

    @property
    def read_only(self) -> bool:
        return self._mode != "rw"

    @property
    def condition(self) -> str | None:
        """What a user of this store should be told once: read-only, or unusable; else None."""
        return self._condition

    # -- runs -------------------------------------------------------------------------------

    def get(self, key: str, events: Events = None) -> dict | None:
        """The stored document, or None if absent or unreadable (with an event). Records the
        time of the access (at most every ACCESS_STEP_S), for the size cap's LRU order."""
        q = self._q

        def read(con: Any) -> Any:
            if self._mode != "rw":
                row = con.execute(q["get_doc"], (key,)).fetchone()
                return None if row is None else row[0]
            row = con.execute(q["get"], (key,)).fetchone()
            if row is None:
                return None
            now = self._now(con)
            if row[1] < now - ACCESS_STEP_S:
                try:  # bookkeeping only: a busy store must not hold up serving the run
                    self._before_touch(con)
                    con.execute(q["touch"], (now, key, now - ACCESS_STEP_S))
                except self._touch_errors:
                    pass
            return row[0]

        blob = self._op(events, read, None)
        if blob is None:
            return None
        try:
            return F.decode(blob if isinstance(blob, bytes) else bytes(blob))  # psycopg: a memoryview
        except F.DECODE_ERRORS as e:
            _say(events, f"the stored copy of run {key[:12]} cannot be read ({type(e).__name__}); "
                         "it is treated as missing")
            return None

    def put(self, key: str, doc: dict, summary: dict, events: Events = None) -> bool:
        """Store `doc` under `key` in one transaction (an existing run with that key is replaced);
        with a size cap, evict the least recently used other runs until the rest fit. Returns
        whether it was kept: not on a read-only store, nor a run bigger than the cap itself."""
        if not isinstance(key, str) or not key:
            raise ValueError("key must be a non-empty string")
        # Encode before taking the write lock: compressing MBs must not block other writers.
        blob = F.encode(doc)
        summ = json.dumps({k: v for k, v in summary.items() if k != "store"}, separators=(",", ":"))
        if self.max_bytes is not None and len(blob) > self.max_bytes:
            _say(events, f"run {key[:12]} is {_mb(len(blob))}, more than the run store's cap of "
                         f"{_mb(self.max_bytes)}; not kept")
            return False

        def write(con: Any) -> bool:
            with self._transaction(con):
                now = self._now(con)
                self._lock_cap(con)
                con.execute(self._q["put"], (key, now, summ, blob, len(blob), now))
                evicted = self._evict(con, key)
            if evicted:
                log.info("run store %s: evicted %d least recently used runs to stay under %s",
                         self.path, evicted, _mb(self.max_bytes or 0))
            return True

        return self._op(events, write, False, write=True)

    def _evict(self, con: Any, keep: str) -> int:
        if self.max_bytes is None:
            return 0
        total = con.execute(self._q["total"]).fetchone()[0]
        evicted = 0
        if total > self.max_bytes:
            for key, size in con.execute(self._q["lru"], (keep,)).fetchall():
                if total <= self.max_bytes:
                    break
                con.execute(self._q["delete"], (key,))
                total, evicted = total - size, evicted + 1
        return evicted

    def list(self, limit: int = 200, events: Events = None) -> list[dict]:
        """Newest first: {**summary, "key", "created" (epoch s), "created_iso" (UTC), "bytes"}.

        Only summaries are read (documents can be MBs each); rows whose summary cannot be
        decoded are skipped, counted in one event. A damaged document shows up when it is opened.
        """
        rows = self._op(events, lambda con: con.execute(self._q["list"], (int(limit),)).fetchall(), [])
        out = [_row(*row) for row in rows]
        bad = out.count(None)
        if bad:
            _say(events, f"{bad} stored run{'s' if bad > 1 else ''} could not be read and "
                         f"{'are' if bad > 1 else 'is'} not listed")
        return [r for r in out if r is not None]

    def summary(self, key: str, events: Events = None) -> dict | None:
        """One run's list() entry, without reading its document."""
        row = self._op(events, lambda con: con.execute(self._q["summary"], (key,)).fetchone(), None)
        return None if row is None else _row(*row)

    def delete(self, key: str, events: Events = None) -> bool:
        """Whether a run was deleted (never on a read-only store)."""
        return self._op(events, lambda con: con.execute(self._q["delete"], (key,)).rowcount > 0,
                        False, write=True)

    def resolve(self, prefix: str, events: Events = None) -> str:
        """The one stored key equal to or starting with `prefix`.

        Raises KeyError if none and ValueError if several match (message names them).
        """
        if not prefix:
            raise KeyError("empty key")

        def find(con: Any) -> list[str]:
            if con.execute(self._q["exists"], (prefix,)).fetchone():
                return [prefix]
            return [r[0] for r in con.execute(self._q["prefix"], (len(prefix), prefix))]

        keys = self._op(events, find, [])
        if not keys:
            raise KeyError(f"no stored run with key {prefix!r}")
        if len(keys) > 1:
            more = ", ..." if len(keys) > 2 else ""
            raise ValueError(f"key prefix {prefix!r} is ambiguous: {', '.join(keys[:2])}{more}")
        return keys[0]

    # -- claims (core.store.claims builds on try_claim and these three) ------------------------

    def renew_claim(self, key: str, owner: str, lease_s: float) -> bool:
        """Extend `owner`'s claim to now + lease_s; False if it is no longer theirs."""
        return self._op(None, lambda con: con.execute(
            self._q["renew"], (self._now(con) + lease_s, key, owner)).rowcount == 1, True, write=True)

    def release_claim(self, key: str, owner: str) -> None:
        self._op(None, lambda con: con.execute(self._q["release"], (key, owner)), None, write=True)

    def claim_holder(self, key: str) -> str | None:
        """The owner of the unexpired claim on `key`, or None."""
        if self.read_only:
            return None
        row = self._op(None, lambda con: con.execute(self._q["holder"], (key, self._now(con))).fetchone(), None)
        return None if row is None else row[0]


def _row(key: str, created: float, summ: str, size: int) -> dict | None:
    try:
        s = json.loads(summ)
        if not isinstance(s, dict):
            raise ValueError(f"expected a JSON object, got {type(s).__name__}")
    except F.DECODE_ERRORS as e:
        log.warning("run %s: summary cannot be decoded (%s); not listed", key, e)
        return None
    iso = _dt.datetime.fromtimestamp(created, _dt.UTC).isoformat(timespec="seconds")
    # Our fields win over a summary that happens to use the same names.
    return {**s, "key": key, "created": created, "created_iso": iso, "bytes": size}
