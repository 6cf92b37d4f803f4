"""Runs stopped at the time limit: kept, marked partial, never taken for the whole run.

A run that reaches the hosted time limit has cost its full share of CPU; an identical request
would only reach the limit again. So its result is kept in the run store, but under a key of
its own (`partial_key`, a hash of the experiment's key: no key prefix ever names both), with
the limit it was cut at in its document and `"partial": "time_limit"` in its summary:

* the experiment's own key stays free: the CLI's `run`, an unlimited server and the careful
  store's claims never see a partial run as the experiment (they train it whole);
* `load_partial` serves it, marked stopped, to an identical request on a server whose limit is
  at most the one it was cut at (a server with a longer limit, or none, trains it again);
* History lists it with its status `stopped` and the summary's `partial` field.

A whole run stored later (trained offline, or with a longer limit) wins: run_guarded asks for
the experiment's own key first.
"""
from __future__ import annotations

import hashlib
import logging
import sqlite3

from core.results import Experiment
from core.serve.limits import Limits
from core.serve.snapshot import freeze

TIME_LIMIT = "time_limit"   # the summary's `partial` value (the only reason kept today)

log = logging.getLogger(__name__)


def partial_key(key: str) -> str:
    """The store key of the partial run of the experiment stored (when whole) under `key`."""
    return hashlib.sha256(f"{key}:partial".encode()).hexdigest()[:32]


def store_partial(store, key: str, exp: Experiment, limit_s: float | None, extra: dict | None = None) -> str | None:
    """Keep a run stopped at the time limit; returns a warning sentence if it could not be kept."""
    from core.store import summarize

    doc = {**exp.to_dict(), "partial": {"reason": TIME_LIMIT, "limit_s": limit_s, "of": key}}
    summary = {**summarize(exp), **(extra or {}), "partial": TIME_LIMIT, "limit_s": limit_s}
    try:
        store.put(partial_key(key), doc, summary)
    except (sqlite3.Error, OSError) as e:  # a read-only or full store: the run is still served
        log.warning("partial run %s not kept: %s", key, e)
        return f"the partial run could not be kept ({type(e).__name__})"
    return None


def load_partial(store, key: str, limits: Limits) -> tuple[Experiment, float] | None:
    """(the kept partial run, the limit it was cut at), if one was cut at a limit this server
    would not exceed either; else None (train it: it may now finish)."""
    if limits.max_seconds is None:
        return None
    doc = store.get(partial_key(key))
    if doc is None:
        return None
    info = doc.get("partial") or {}
    cut_at = info.get("limit_s")
    if info.get("reason") != TIME_LIMIT or not isinstance(cut_at, (int, float)) or cut_at < limits.max_seconds:
        return None
    try:
        exp = Experiment.from_dict(doc)
    except Exception:  # noqa: BLE001 - an older engine's document: train again, as for whole runs
        return None
    for r in exp.runs:
        if r.status in ("running", "pending"):
            r.status = "stopped"
    return freeze(exp), float(cut_at)
