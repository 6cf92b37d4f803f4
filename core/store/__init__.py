"""The run store: every finished experiment, kept in one SQLite file, served instead of retrained.

| module    | what it holds |
|-----------|---------------|
| `keys`    | the default path ($RELU_LAB_STORE), `experiment_key`, `store_key`, `summarize`, STORABLE |
| `base`    | `BaseRunStore`: what every backend shares, in SQL: get, put, list, summary, delete, resolve, the size cap, claims |
| `runs`    | `RunStore`: the SQLite file, its care (recognised, re-opened, salvaged, read-only) and its transactions |
| `sqlfile` | the file: recognising it as ours, creating it, how it can be opened, whether it is damaged |
| `salvage` | a damaged store: its readable runs copied into a fresh file, the damaged one kept aside |
| `claims`  | `claim_or_wait`, `Claim`: identical experiments in several processes train once |
| `pg`      | `PgRunStore`: the same interface on PostgreSQL (psycopg 3), for replicas sharing one store |

`open_run_store(location)` opens either: a `postgresql://` URL gives a PgRunStore (psycopg is
imported only then), anything else a SQLite RunStore; no location: $RELU_LAB_STORE, else
<repo>/.data/runs.db.

The interface a caller uses (and another backend would offer) is BaseRunStore's methods, each
taking an `events` list for the warnings meant for that caller, plus `read_only`, `condition`,
and the four claim methods that core.store.claims builds on.
"""
from __future__ import annotations

import os
from typing import Any

from core.store.claims import Claim, Turn, claim_or_wait
from core.store.keys import (
    ENV_VAR,
    STORABLE,
    default_location,
    default_path,
    experiment_key,
    is_url,
    store_key,
    summarize,
)
from core.store.runs import RunStore
from core.store.sqlfile import NotAStore, StoreError

CorruptStore = StoreError  # the older name, still caught by callers written before the split


def open_run_store(location: str | os.PathLike | None = None, **kw: Any):
    """The run store at `location`: a PgRunStore for a postgresql:// URL, else a SQLite RunStore
    (a path). None: $RELU_LAB_STORE, else <repo>/.data/runs.db. Keyword arguments (max_mb,
    clock, events; namespace for PostgreSQL) go to the store. Raises as the store does
    (NotAStore, StoreError: OSErrors naming the location)."""
    if location is None:
        location = default_location()
    if is_url(location):
        from core.store.pg import PgRunStore  # psycopg only for a PostgreSQL store

        return PgRunStore(str(location), **kw)
    return RunStore(location, **kw)

__all__ = [
    "ENV_VAR", "STORABLE", "Claim", "CorruptStore", "NotAStore", "RunStore", "StoreError", "Turn", "claim_or_wait",
    "default_location", "default_path", "experiment_key", "is_url", "open_run_store", "store_key", "summarize",
]
