"""The run store: every finished experiment, kept in one SQLite file, served instead of retrained.

| module    | what it holds |
|-----------|---------------|
| `keys`    | the default path ($RELU_LAB_STORE), `experiment_key`, `store_key`, `summarize`, STORABLE |
| `runs`    | `RunStore`: get, put, list, summary, delete, resolve; the size cap; the claim rows |
| `sqlfile` | the file: recognising it as ours, creating it, how it can be opened, whether it is damaged |
| `salvage` | a damaged store: its readable runs copied into a fresh file, the damaged one kept aside |
| `claims`  | `claim_or_wait`, `Claim`: identical experiments in several processes train once |

The interface a caller uses (and another backend would offer) is RunStore's methods, each
taking an `events` list for the warnings meant for that caller, plus `read_only`, `condition`,
and the four claim methods that core.store.claims builds on.
"""
from __future__ import annotations

from core.store.claims import Claim, Turn, claim_or_wait
from core.store.keys import ENV_VAR, STORABLE, default_path, experiment_key, store_key, summarize
from core.store.runs import RunStore
from core.store.sqlfile import NotAStore, StoreError

CorruptStore = StoreError  # the older name, still caught by callers written before the split

__all__ = [
    "ENV_VAR", "STORABLE", "Claim", "CorruptStore", "NotAStore", "RunStore", "StoreError", "Turn", "claim_or_wait",
    "default_path", "experiment_key", "store_key", "summarize",
]
